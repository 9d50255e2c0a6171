package message

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Every placeholder has a budget, and only placeholders have one.
func TestPlaceholderMaxUnitsCoverProfileFields(t *testing.T) {
	t.Parallel()
	var fields, maxes []string
	for n := range broadcast.ProfileFields {
		fields = append(fields, n)
	}
	for n, max := range broadcast.PlaceholderMaxUnits {
		maxes = append(maxes, n)
		require.Positive(t, max, n)
	}
	sort.Strings(fields)
	sort.Strings(maxes)
	require.Equal(t, fields, maxes)
}

// A message whose activity is exactly at the budget, counted as Teams
// counts it (UTF-16 units of the whole activity, each placeholder at its
// field's longest value), is accepted by validation and by Build; one unit
// more is refused, naming the message.
func TestBudgetBoundary(t *testing.T) {
	t.Parallel()
	emoji := strings.Repeat("😀", 1000) // 2 units each
	for _, tc := range []struct {
		name string
		// message with fill ASCII letters: its worst case grows by one unit a letter
		message func(fill string) broadcast.Message
		units   func(a []byte) int // what the budget must equal, measured another way
	}{
		{"text", func(f string) broadcast.Message { return broadcast.Message{Text: "x" + f} }, teams.PayloadSize},
		{"text with placeholders", func(f string) broadcast.Message {
			return broadcast.Message{Text: "Hi {{displayName}} ({{ jobTitle }}, {{department}}) " + f}
		}, func(a []byte) int {
			return teams.PayloadSize(a) - len("{{displayName}}") - len("{{ jobTitle }}") - len("{{department}}") + 256 + 128 + 64
		}},
		{"text with non-BMP characters", func(f string) broadcast.Message { return broadcast.Message{Text: emoji + f} }, func(a []byte) int {
			return len([]rune(string(a))) + 1000 // each emoji is one rune and two units
		}},
		{"card and summary", func(f string) broadcast.Message {
			return broadcast.Message{Text: "summary", Card: json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + f + `"}]}`)}
		}, teams.PayloadSize},
		{"template", func(f string) broadcast.Message {
			return broadcast.Message{Template: &broadcast.Template{Title: "Hello {{givenName}}", Summary: emoji + f, Author: "HR",
				Buttons: []broadcast.Button{{Title: "Open", URL: "https://contoso.example/"}}}}
		}, func(a []byte) int {
			// the title is twice in the activity: the summary and the heading
			return len([]rune(string(a))) + 1000 + 2*(64-len("{{givenName}}"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := worstCase(t, tc.message("a")) - 1
			fill := strings.Repeat("a", MaxActivityUnits-base)

			at := tc.message(fill)
			require.NoError(t, at.Validate(), "the parts' own limits do not refuse a message within the budget")
			act, err := Build(at)
			require.NoError(t, err)
			require.Equal(t, MaxActivityUnits, WorstCaseUnits(act))
			require.Equal(t, MaxActivityUnits, tc.units(act), "the budget counts UTF-16 units, placeholders at their longest")

			over := tc.message(fill + "a")
			require.NoError(t, over.Validate())
			_, err = Build(over)
			requireProblem(t, err, "message", "over Teams' budget")
		})
	}
}

// At the budget with placeholders, the longest profile fills it exactly,
// and a profile whose values escape to more than their field's maximum
// (quotes cost two units, a control character six) is cut to it: what is
// posted never goes over the budget.
func TestBudgetHoldsForEveryRecipient(t *testing.T) {
	t.Parallel()
	msg := func(f string) broadcast.Message {
		return broadcast.Message{Text: "{{displayName}} {{displayName}} {{givenName}} " + f}
	}
	base := worstCase(t, msg("a")) - 1
	act, err := Build(msg(strings.Repeat("a", MaxActivityUnits-base)))
	require.NoError(t, err)

	longest := broadcast.Profile{DisplayName: strings.Repeat("é", 256), GivenName: strings.Repeat("🎉", 32)}
	require.Equal(t, MaxActivityUnits, teams.PayloadSize(Personalize(act, longest)))

	for _, p := range []broadcast.Profile{
		{DisplayName: strings.Repeat(`"`, 300), GivenName: strings.Repeat(`\`, 64)},
		{DisplayName: strings.Repeat("\x01", 256), GivenName: strings.Repeat("🎉", 40)},
		{DisplayName: strings.Repeat("a", 255) + "🎉", GivenName: "x\u2028y"},
	} {
		got := Personalize(act, p)
		require.LessOrEqual(t, teams.PayloadSize(got), MaxActivityUnits)
		var v struct{ Text string }
		require.NoError(t, json.Unmarshal(got, &v), "cut between characters and escapes, the activity stays valid JSON")
	}
}

// The escaping is encoding/json's, without its HTML escapes, and a cut
// value is a prefix of the whole one.
func TestJSONEscape(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `Ada "the" <Countess> & \co`, "tab\tnew\nline\r\x00\x1f", "é🎉\u2028\u2029", "bad \xff byte"} {
		got := jsonEscape(s, 0)
		var back string
		require.NoError(t, json.Unmarshal([]byte(`"`+string(got)+`"`), &back), "%q", got)
		require.Equal(t, strings.ToValidUTF8(s, "\uFFFD"), back)
		for max := 1; max < teams.PayloadSize(got); max++ {
			cut := jsonEscape(s, max)
			require.LessOrEqual(t, teams.PayloadSize(cut), max)
			require.True(t, strings.HasPrefix(string(got), string(cut)))
			require.NoError(t, json.Unmarshal([]byte(`"`+string(cut)+`"`), &back), "cut at %d: %q", max, cut)
		}
	}
	require.Equal(t, `R&D <x>`, string(jsonEscape("R&D <x>", 0)))
}

func worstCase(t *testing.T, m broadcast.Message) int {
	t.Helper()
	act, err := Activity(m)
	require.NoError(t, err)
	return WorstCaseUnits(act)
}

func requireProblem(t *testing.T, err error, field, problem string) {
	t.Helper()
	var verr *broadcast.ValidationError
	require.True(t, errors.As(err, &verr), "not a ValidationError: %v", err)
	for _, p := range verr.Problems {
		if p.Field == field && strings.Contains(p.Problem, problem) {
			return
		}
	}
	t.Fatalf("no problem %q on %s in %v", problem, field, err)
}
