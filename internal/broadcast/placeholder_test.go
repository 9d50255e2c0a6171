package broadcast

import (
	"slices"
	"testing"
)

// placeholderNames finds what PlaceholderPattern finds, which
// message.Personalize fills: validation and personalisation agree on
// what is a placeholder.
func FuzzPlaceholderNamesAsThePattern(f *testing.F) {
	for _, s := range []string{
		``, `{{a}}`, `{{ displayName }}`, `{{{a}}}`, `{{a}}}}`, `{{a b}}`, `{{1a}}`, `{{a1}}{{b2}}`,
		"{{\ta\n}}", "{{\va}}", "{{\u00a0a}}", `{{a}{{b}}`, `{{`, `{{a`, `{{a}`, `}}{{a}}{{`, `{{{{a}}}}`,
		`x{{ mail}}y{{jobTitle }}z`, `{{é}}`, `{{a_b}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want, got []string
		for _, m := range PlaceholderPattern.FindAllStringSubmatch(s, -1) {
			want = append(want, m[1])
		}
		placeholderNames(s, func(name string) bool {
			got = append(got, name)
			return true
		})
		if !slices.Equal(want, got) {
			t.Fatalf("%q: the pattern finds %q, placeholderNames %q", s, want, got)
		}
	})
}
