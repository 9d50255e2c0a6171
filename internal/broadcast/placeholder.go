package broadcast

import (
	"regexp"
	"sort"
	"strings"
)

// PlaceholderPattern matches a placeholder, {{name}} with optional spaces
// inside the braces; its first group is the name. A known name is a key of
// ProfileFields; validation refuses any other.
var PlaceholderPattern = regexp.MustCompile(`\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}`)

// PlaceholderMaxUnits is, for each placeholder, the longest value it can
// stand for, in UTF-16 code units: the property's maximum length in Entra
// ID (Microsoft Graph's user resource). The payload budget counts each
// placeholder at this length, so that a message accepted fits for every
// recipient, and personalisation never puts more in (message.Personalize).
// Graph gives no maximum for mail; 256 is the Active Directory attribute's
// (an SMTP address is at most 254 characters). A user principal name is at
// most 113 characters (64 before the @, 48 after).
var PlaceholderMaxUnits = map[string]int{
	"displayName":       256,
	"givenName":         64,
	"surname":           64,
	"mail":              256,
	"userPrincipalName": 113,
	"jobTitle":          128,
	"department":        64,
}

// knownPlaceholders is the list for error messages: {{displayName}}, ...
var knownPlaceholders = func() string {
	names := make([]string, 0, len(ProfileFields))
	for n := range ProfileFields {
		names = append(names, "{{"+n+"}}")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}()

// checkPlaceholders refuses the unknown placeholders of s, naming each.
func checkPlaceholders(v *ValidationError, field, s string) {
	if !strings.Contains(s, "{{") {
		return
	}
	seen := map[string]bool{}
	for _, m := range PlaceholderPattern.FindAllStringSubmatch(s, -1) {
		name := m[1]
		if _, ok := ProfileFields[name]; ok || seen[name] {
			continue
		}
		seen[name] = true
		if len(seen) > 5 {
			v.add(field, "more unknown placeholders")
			return
		}
		v.add(field, "unknown placeholder {{%s}}: the known ones are %s", clip(name), knownPlaceholders)
	}
}
