package broadcast

import (
	"net/url"
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
		if !strings.Contains(u.Opaque, "@") {
			v.add(field, "a mailto: link needs an address, such as mailto:hr@contoso.com, got %q", clip(s))
		}
	default:
		v.add(field, "must be an https:// (or http://, mailto:) URL, got %q", clip(s))
	}
}

// validateImageURL checks the URL of an image: absolute https only, as
// Teams loads card images over https only (no data: URIs: they would
// count against the payload budget of every message).
func validateImageURL(v *ValidationError, field, s string) {
	u, ok := parseURL(v, field, s)
	if !ok {
		return
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		v.add(field, "must be an absolute https:// URL (Teams loads images over https only), got %q", clip(s))
	}
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
	case PlaceholderPattern.MatchString(s):
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
