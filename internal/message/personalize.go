// Package message renders what a recipient gets: templates to Adaptive
// Cards, and the per-recipient personalisation of an activity.
package message

import (
	"encoding/json"
	"regexp"
	"sort"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// placeholderRE matches {{name}}, with optional spaces inside the braces.
var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}`)

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

// Personalize replaces each known placeholder in a JSON activity with the
// profile's value, escaped for a JSON string (placeholders only ever stand
// inside strings). Unknown names are left as they are: validation refuses
// them before anything is queued.
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
		return jsonEscape(field(p))
	})
}

// jsonEscape returns s encoded as the inside of a JSON string.
func jsonEscape(s string) []byte {
	raw, _ := json.Marshal(s) // a string always encodes
	return raw[1 : len(raw)-1]
}
