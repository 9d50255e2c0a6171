package broadcast

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate checks a message on its own (an edit's new message, a
// preview's) and puts it in canonical form: the fields at fault are named
// under "message".
func (m *Message) Validate() error {
	v := &ValidationError{}
	m.validate(v)
	return v.orNil()
}

// validate checks the message's form, then each part: exactly one of text
// (with an optional card, its notification summary), card or template.
// The payload budget of the whole activity is checked where the activity is
// rendered (message.Build), since it depends on the rendering.
func (m *Message) validate(v *ValidationError) {
	hasText, hasCard, hasTemplate := m.Text != "", len(m.Card) > 0, m.Template != nil
	switch {
	case !hasText && !hasCard && !hasTemplate:
		v.add("message", "required: give text, card (text may go with it as its summary) or template")
		return
	case hasTemplate && (hasText || hasCard):
		v.add("message.template", "give one of text, card or template: a template is the whole message, its summary is the template's")
		return
	}
	if hasText {
		validateText(v, "message.text", m.Text, MaxTextBytes)
	}
	if hasCard {
		validateCard(m.Card, v)
	}
	if hasTemplate {
		m.Template.validate(v, "message.template")
	}
}

// validateText checks one markdown string: its size, encoding, that it says
// something, its characters, links and placeholders.
func validateText(v *ValidationError, field, s string, maxBytes int) {
	switch {
	case len(s) > maxBytes:
		v.add(field, "too long: %d bytes, at most %d", len(s), maxBytes)
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
	case strings.TrimSpace(s) == "":
		v.add(field, "is only white space")
	case checkControl(v, field, s, true):
		checkMarkdownLinks(v, field, s)
		checkPlaceholders(v, field, s)
	}
}

// validateLine checks a one-line string of at most maxChars characters
// (title, author, button): required or not. It reports whether s passed.
func validateLine(v *ValidationError, field, s string, maxChars int, required bool) bool {
	n := len(v.Problems)
	switch {
	case s == "" && !required:
	case strings.TrimSpace(s) == "":
		v.add(field, "required: not empty or only white space")
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
	case utf8.RuneCountInString(s) > maxChars:
		v.add(field, "too long: %d characters, at most %d", utf8.RuneCountInString(s), maxChars)
	case checkControl(v, field, s, false):
		checkPlaceholders(v, field, s)
	}
	return len(v.Problems) == n
}

// checkControl refuses a control character in s (NUL, ESC, DEL, C1):
// Teams shows them as boxes, or refuses the activity. Text keeps its tabs
// and line breaks; a one-line field has none. It reports whether s passed.
func checkControl(v *ValidationError, field, s string, text bool) bool {
	i := strings.IndexFunc(s, func(r rune) bool { return badControl(r, text) })
	if i < 0 {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	at := utf8.RuneCountInString(s[:i]) + 1
	if text {
		v.add(field, "holds the control character %U at character %d: only tabs and line breaks are allowed", r, at)
	} else {
		v.add(field, "holds the control character %U at character %d: a one-line field allows none", r, at)
	}
	return false
}

// hasControl reports whether checkControl would refuse s.
func hasControl(s string, text bool) bool {
	return strings.IndexFunc(s, func(r rune) bool { return badControl(r, text) }) >= 0
}

func badControl(r rune, text bool) bool {
	return unicode.IsControl(r) && !(text && (r == '\t' || r == '\n' || r == '\r'))
}
