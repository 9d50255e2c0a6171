package message

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A template renders to the Adaptive Card in testdata, byte for byte; the
// card passes the create request's own card validation, and the activity
// carries it alone with the title as its notification summary.
func TestTemplateCardGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tmpl broadcast.Template
	}{
		{"template_full", broadcast.Template{
			Title:    "Hello {{givenName}}: the new travel policy",
			Summary:  "From **1 January**, book trips through the portal.\n\n- Flights & trains\n- Hotels <= 150 EUR",
			ImageURL: "https://contoso.example/img/travel.png",
			Author:   "Internal Communications",
			Buttons: []broadcast.Button{
				{Title: "Read the policy", URL: "https://contoso.example/travel?src=teams&lang=en"},
				{Title: "Ask HR", URL: "mailto:hr@contoso.example"},
			},
		}},
		{"template_minimal", broadcast.Template{Title: "Office closed on Friday 🎉"}},
		{"template_acknowledge", broadcast.Template{Title: "Fire drill on Tuesday", Summary: "Please confirm you read this.",
			Buttons:     []broadcast.Button{{Title: "Evacuation plan", URL: "https://contoso.example/plan"}},
			Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TemplateCard(tc.tmpl)
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, got, "", "  "))
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", tc.name+".json")
			if *update {
				require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), pretty.String())

			require.NoError(t, (&broadcast.Message{Card: got}).Validate(), "the rendered card is one a create would accept")
			act, err := Build(broadcast.Message{Template: &tc.tmpl})
			require.NoError(t, err)
			var a struct {
				Summary     string `json:"summary"`
				Text        string `json:"text"`
				Attachments []struct {
					ContentType string          `json:"contentType"`
					Content     json.RawMessage `json:"content"`
				} `json:"attachments"`
			}
			require.NoError(t, json.Unmarshal(act, &a))
			require.Equal(t, tc.tmpl.Title, a.Summary)
			require.Empty(t, a.Text, "never text and a card in one activity: Teams would split it")
			require.Len(t, a.Attachments, 1)
			require.JSONEq(t, string(got), string(a.Attachments[0].Content))
		})
	}
}

// Personalising a rendered template fills its placeholders inside the
// card's strings and keeps the activity valid JSON.
func TestTemplatePersonalized(t *testing.T) {
	t.Parallel()
	act, err := Build(broadcast.Message{Template: &broadcast.Template{Title: "Hi {{displayName}}", Summary: "Your team: {{ department }}"}})
	require.NoError(t, err)
	require.True(t, Personal(act))
	got := Personalize(act, broadcast.Profile{DisplayName: `Zoë "Z" \ Ng`, Department: "R&D"})
	var a struct {
		Summary     string `json:"summary"`
		Attachments []struct {
			Content struct {
				Body []struct{ Text string } `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(got, &a), "%s", got)
	require.Equal(t, `Hi Zoë "Z" \ Ng`, a.Summary)
	require.Equal(t, `Hi Zoë "Z" \ Ng`, a.Attachments[0].Content.Body[0].Text)
	require.Equal(t, "Your team: R&D", a.Attachments[0].Content.Body[1].Text)
}
