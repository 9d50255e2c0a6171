package message

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func TestHasAck(t *testing.T) {
	t.Parallel()
	build := func(m broadcast.Message) []byte {
		a, err := Build(m)
		require.NoError(t, err)
		return a
	}
	require.True(t, HasAck(build(broadcast.Message{Template: &broadcast.Template{Title: "t", Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}})))
	require.False(t, HasAck(build(broadcast.Message{Template: &broadcast.Template{Title: "t"}})))
	require.False(t, HasAck(build(broadcast.Message{Text: "plain"})))
	card := `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"OK","verb":"broadcast.ack"}]}]}`
	require.True(t, HasAck(build(broadcast.Message{Card: json.RawMessage(card)})), "an acknowledge button nested in the card counts")
}

func TestReminderMessage(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Reminder: read me", Reminder(broadcast.Message{Text: "read me"}, "Reminder: ").Text)
	tm := &broadcast.Template{Title: "Policy"}
	r := Reminder(broadcast.Message{Template: tm}, "Reminder: ")
	require.Equal(t, "Reminder: Policy", r.Template.Title)
	require.Equal(t, "Policy", tm.Title, "the original is not changed")
	r = Reminder(broadcast.Message{Card: json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"x"}]}`)}, "Reminder: ")
	var c struct {
		Body []map[string]any `json:"body"`
	}
	require.NoError(t, json.Unmarshal(r.Card, &c))
	require.Len(t, c.Body, 2)
	require.Equal(t, "Reminder:", c.Body[0]["text"])
	require.Equal(t, broadcast.Message{Text: "same"}, Reminder(broadcast.Message{Text: "same"}, ""))
}
