package broadcast

import (
	"regexp"
	"slices"
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
	var seen [6]string
	n := 0
	placeholderNames(s, func(name string) bool {
		if _, ok := ProfileFields[name]; ok || slices.Contains(seen[:n], name) {
			return true
		}
		seen[n] = name
		n++
		if n == len(seen) {
			v.add(field, "more unknown placeholders")
			return false
		}
		v.add(field, "unknown placeholder {{%s}}: the known ones are %s", clip(name), knownPlaceholders)
		return true
	})
}

// placeholderNames calls f with the name of each placeholder of s, in
// order, as PlaceholderPattern finds them (TestPlaceholderNamesAsThePattern),
// until f returns false. It allocates nothing: the card walk runs it on
// every string, where the regexp allocated per call.
func placeholderNames(s string, f func(name string) bool) {
	for i := 0; ; {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			return
		}
		start := i + j
		k := skipSpace(s, start+2)
		nameAt := k
		if k < len(s) && isLetter(s[k]) {
			for k++; k < len(s) && (isLetter(s[k]) || '0' <= s[k] && s[k] <= '9'); k++ {
			}
		}
		name := s[nameAt:k]
		k = skipSpace(s, k)
		if name == "" || !strings.HasPrefix(s[k:], "}}") {
			i = start + 1
			continue
		}
		if !f(name) {
			return
		}
		i = k + 2
	}
}

// skipSpace skips what \s matches in the pattern: RE2's [\t\n\f\r ].
func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte("\t\n\f\r ", s[i]) >= 0 {
		i++
	}
	return i
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
