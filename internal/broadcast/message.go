package broadcast

import (
	"strings"
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
// something, and its placeholders.
func validateText(v *ValidationError, field, s string, maxBytes int) {
	switch {
	case len(s) > maxBytes:
		v.add(field, "too long: %d bytes, at most %d", len(s), maxBytes)
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
	case strings.TrimSpace(s) == "":
		v.add(field, "is only white space")
	default:
		checkPlaceholders(v, field, s)
	}
}

// validateLine checks a one-line string of at most maxChars characters
// (title, author, button): required or not.
func validateLine(v *ValidationError, field, s string, maxChars int, required bool) {
	switch {
	case s == "" && !required:
	case strings.TrimSpace(s) == "":
		v.add(field, "required: not empty or only white space")
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
	case utf8.RuneCountInString(s) > maxChars:
		v.add(field, "too long: %d characters, at most %d", utf8.RuneCountInString(s), maxChars)
	default:
		checkPlaceholders(v, field, s)
	}
}
