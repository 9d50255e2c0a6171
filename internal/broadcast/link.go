package broadcast

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxURLChars bounds a URL in a message (a link or an image).
const MaxURLChars = 2048

// validateLink checks a URL a user opens (a button, an Action.OpenUrl): an
// absolute https or http URL with a host, or a mailto: address. Plain http
// is accepted because intranet sites still use it (Teams opens it in the
// browser); every other scheme is refused: javascript:, data:, file:,
// vbscript: and the like can run code or reach the user's machine.
func validateLink(v *ValidationError, field, s string) {
	u, ok := parseURL(v, field, s)
	if !ok {
		return
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" || u.Opaque != "" {
			v.add(field, "must be an absolute URL with a host, such as https://contoso.com/page, got %q", clip(s))
		}
	case "mailto":
		if !mailAddress.MatchString(u.Opaque) {
			v.add(field, "a mailto: link needs one plain address, such as mailto:hr@contoso.com, got %q", clip(s))
		}
	default:
		v.add(field, "must be an https:// (or http://, mailto:) URL, got %q", clip(s))
	}
}

// mailAddress is the one plain address (local@host) a mailto: link may
// hold before its query: no display name, no second address, no
// percent-encoding that would hide either.
var mailAddress = regexp.MustCompile(`^[A-Za-z0-9.!#$&'*+/=^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// validateImageURL checks the URL of an image: absolute https only, as
// Teams loads card images over https only (no data: URIs: they would
// count against the payload budget of every message).
func validateImageURL(v *ValidationError, field, s string) {
	validateHTTPSURL(v, field, s, "images")
}

// validateHTTPSURL checks the URL of what Teams loads (images, media):
// absolute https only.
func validateHTTPSURL(v *ValidationError, field, s, what string) {
	u, ok := parseURL(v, field, s)
	if !ok {
		return
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		v.add(field, "must be an absolute https:// URL (Teams loads %s over https only), got %q", what, clip(s))
	}
}

// autolink matches a markdown autolink, <scheme:...>.
var autolink = regexp.MustCompile(`<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>`)

// checkMarkdownLinks refuses the first link of a markdown string whose
// target validateLink would refuse: Teams renders [label](target) and
// <scheme:...> as links, so a javascript: one runs when clicked. Any
// target that is not an absolute https, http or mailto: URL is refused,
// which also refuses a scheme hidden by an entity or an escape
// (javascript&#58;...) that a renderer would decode.
func checkMarkdownLinks(v *ValidationError, field, s string) {
	for rest := s; ; {
		i := strings.Index(rest, "](")
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		if !markdownTarget(v, field, linkDestination(rest)) {
			return
		}
	}
	if strings.IndexByte(s, '<') < 0 {
		return
	}
	for _, m := range autolink.FindAllString(s, -1) {
		if !markdownTarget(v, field, m[1:len(m)-1]) {
			return
		}
	}
}

// mayLink reports whether s may hold a markdown link: most text has none.
func mayLink(s string) bool {
	return strings.Contains(s, "](") || strings.IndexByte(s, '<') >= 0
}

// markdownTarget checks one link target, reporting whether it passes.
func markdownTarget(v *ValidationError, field, target string) bool {
	var lv ValidationError
	validateLink(&lv, field, target)
	if len(lv.Problems) == 0 {
		return true
	}
	v.add(field, "a markdown link's target: %s", lv.Problems[0].Problem)
	return false
}

// linkDestination returns the destination at the start of s, what follows
// "](" in a markdown link: <...>, or up to white space or the ')' that
// closes the link, parentheses inside balanced.
func linkDestination(s string) string {
	s = strings.TrimLeft(s, " \t\n")
	if strings.HasPrefix(s, "<") {
		if end := strings.IndexAny(s, ">\n"); end > 0 {
			return s[1:end]
		}
	}
	depth := 0
	for i, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth == 0:
			return s[:i]
		case r == ')':
			depth--
		case unicode.IsSpace(r):
			return s[:i]
		}
	}
	return s
}

// parseURL checks what every URL needs: not empty, not too long, no white
// space or control characters, no placeholder (a profile value would not be
// URL-encoded), and that it parses; the scheme is lowercased by url.Parse.
func parseURL(v *ValidationError, field, s string) (*url.URL, bool) {
	switch {
	case strings.TrimSpace(s) == "":
		v.add(field, "required: a URL")
		return nil, false
	case utf8.RuneCountInString(s) > MaxURLChars:
		v.add(field, "too long: %d characters, at most %d", utf8.RuneCountInString(s), MaxURLChars)
		return nil, false
	case strings.Contains(s, "{{") && PlaceholderPattern.MatchString(s):
		v.add(field, "placeholders are not allowed in URLs (a profile value would not be URL-encoded)")
		return nil, false
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add(field, "a URL may not hold white space or control characters (encode them), got %q", clip(s))
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil {
		v.add(field, "not a valid URL: %q", clip(s))
		return nil, false
	}
	return u, true
}
