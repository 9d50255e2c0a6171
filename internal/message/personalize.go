// Package message renders what a recipient gets: templates to Adaptive
// Cards, the activity of a message within Teams' payload budget, and the
// per-recipient personalisation of an activity.
package message

import (
	"sort"
	"unicode/utf8"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// placeholderRE is broadcast's: validation and personalisation agree on
// what a placeholder is.
var placeholderRE = broadcast.PlaceholderPattern

// Placeholders returns the distinct placeholder names used in s, sorted.
func Placeholders(s []byte) []string {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllSubmatch(s, -1) {
		seen[string(m[1])] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Personal reports whether the activity has a known placeholder, that is
// whether each recipient gets their own: the sender decides it once per
// broadcast, and reads no profile for an activity that is not.
func Personal(activity []byte) bool {
	for _, m := range placeholderRE.FindAllSubmatch(activity, -1) {
		if _, ok := broadcast.ProfileFields[string(m[1])]; ok {
			return true
		}
	}
	return false
}

// Personalize replaces each known placeholder in a JSON activity with the
// profile's value, escaped for a JSON string (placeholders only ever stand
// inside strings). Unknown names are left as they are: validation refuses
// them before anything is queued.
//
// A value is cut to its placeholder's budget (broadcast.PlaceholderMaxUnits,
// counted escaped, in UTF-16 units), never inside a character or an escape:
// the budget an accepted message was measured with holds for every
// recipient, even one whose name is full of quotes.
func Personalize(activity []byte, p broadcast.Profile) []byte {
	if !placeholderRE.Match(activity) {
		return activity
	}
	return placeholderRE.ReplaceAllFunc(activity, func(m []byte) []byte {
		name := string(placeholderRE.FindSubmatch(m)[1])
		field, ok := broadcast.ProfileFields[name]
		if !ok {
			return m
		}
		return jsonEscape(field(p), broadcast.PlaceholderMaxUnits[name])
	})
}

// jsonEscape returns s encoded as the inside of a JSON string, at most
// maxUnits UTF-16 units long (0: no bound). '<', '>' and '&' are not
// escaped (the activity is not HTML; escaped they would cost 6 units);
// an invalid UTF-8 byte becomes U+FFFD, as encoding/json does.
func jsonEscape(s string, maxUnits int) []byte {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(s))
	units := 0
	var buf [6]byte
	for _, r := range s {
		enc, n := buf[:0], 0
		switch {
		case r == '"' || r == '\\':
			enc, n = append(enc, '\\', byte(r)), 2
		case r == '\n':
			enc, n = append(enc, `\n`...), 2
		case r == '\r':
			enc, n = append(enc, `\r`...), 2
		case r == '\t':
			enc, n = append(enc, `\t`...), 2
		case r < 0x20:
			enc, n = append(enc, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf]), 6
		case r == 0x2028 || r == 0x2029: // valid JSON, but not in JavaScript strings
			enc, n = append(enc, '\\', 'u', '2', '0', '2', hex[r&0xf]), 6
		default:
			enc = utf8.AppendRune(enc, r)
			n = 1
			if r > 0xFFFF {
				n = 2
			}
		}
		if maxUnits > 0 && units+n > maxUnits {
			break
		}
		units += n
		out = append(out, enc...)
	}
	return out
}
