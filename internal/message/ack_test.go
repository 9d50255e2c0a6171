package message

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The acknowledge button names the broadcast once it is sent; the card a
// recipient sees after pressing it keeps everything but the button and
// says when.
func TestAcknowledgeButton(t *testing.T) {
	t.Parallel()
	tmpl := broadcast.Template{Title: "Fire drill", Buttons: []broadcast.Button{{Title: "Plan", URL: "https://contoso.example/plan"}},
		Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}
	act, err := Build(broadcast.Message{Template: &tmpl})
	require.NoError(t, err)
	require.Contains(t, string(act), BroadcastIDToken)
	id := "0192f1c4-7b7e-7c2a-9d55-0b1f3e2a4c6d"
	sent := ForBroadcast(act, id)
	require.NotContains(t, string(sent), BroadcastIDToken)
	require.Equal(t, WorstCaseUnits(act), WorstCaseUnits(sent), "the token is counted at the id's length")

	card, err := Card(sent)
	require.NoError(t, err)
	require.Contains(t, string(card), `{"type":"Action.Execute","title":"Got it","verb":"broadcast.ack","data":{"broadcastId":"`+id+`"},"style":"positive"}`)

	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	done, err := Acknowledged(card, at)
	require.NoError(t, err)
	require.NoError(t, (&broadcast.Message{Card: done}).Validate(), "the refreshed card is a valid card")
	var c struct {
		Body    []map[string]any `json:"body"`
		Actions []map[string]any `json:"actions"`
	}
	require.NoError(t, json.Unmarshal(done, &c))
	require.Len(t, c.Actions, 1)
	require.Equal(t, "Action.OpenUrl", c.Actions[0]["type"])
	last := c.Body[len(c.Body)-1]["text"].(string)
	require.True(t, strings.HasPrefix(last, "✅ Acknowledged {{DATE(2026-12-07T09:30:00Z, SHORT)}}"), last)

	// Without other buttons, no actions are left.
	only, err := Acknowledged(json.RawMessage(`{"type":"AdaptiveCard","version":"1.4","body":[],"actions":[{"type":"Action.Execute","verb":"broadcast.ack"}]}`), at)
	require.NoError(t, err)
	require.NotContains(t, string(only), "actions")
	_, err = Acknowledged(json.RawMessage(`[1]`), at)
	require.Error(t, err)
	// An activity without a card has none.
	text, err := Build(broadcast.Message{Text: "hi"})
	require.NoError(t, err)
	card, err = Card(text)
	require.NoError(t, err)
	require.Nil(t, card)
}
