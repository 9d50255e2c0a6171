package message

import (
	"encoding/json"
	"testing"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Whatever a recipient's profile holds, a valid message personalised for
// them stays valid JSON, within the worst case the budget counted, with no
// known placeholder left.
func FuzzPersonalize(f *testing.F) {
	f.Add("Hi {{displayName}} of {{ department }}", `Ada "the" <Countess>`, "R&D", false)
	f.Add("{{givenName}}{{givenName}}", "\x00\n\u2028\xff", "🎉🎉🎉", true)
	f.Add("plain", "", "", false)
	f.Fuzz(func(t *testing.T, text, name, dept string, template bool) {
		m := broadcast.Message{Text: text}
		if template {
			m = broadcast.Message{Template: &broadcast.Template{Title: text, Summary: text + " {{department}}"}}
		}
		if m.Validate() != nil {
			return
		}
		act, err := Build(m)
		if err != nil {
			return
		}
		p := broadcast.Profile{DisplayName: name, GivenName: name, Surname: dept, Mail: name, UserPrincipalName: dept, JobTitle: name, Department: dept}
		got := Personalize(act, p)
		if !json.Valid(got) {
			t.Fatalf("personalised activity is not JSON: %q", got)
		}
		if n, max := teams.PayloadSize(got), WorstCaseUnits(act); n > max {
			t.Fatalf("personalised to %d units, over the worst case %d", n, max)
		}
		if Personal(got) && !Personal([]byte(name+dept)) {
			t.Fatalf("a known placeholder is left: %q", got)
		}
	})
}
