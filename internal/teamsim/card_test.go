package teamsim

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindExecute(t *testing.T) {
	t.Parallel()
	act := findExecute([]byte(ackCard))
	require.NotNil(t, act)
	require.Equal(t, "ack", act.Verb)
	require.Equal(t, "Got it", act.Title)
	require.JSONEq(t, `{"broadcast":"b1"}`, string(act.Data))

	for name, body := range map[string]string{
		"text":         hello,
		"open url":     `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","actions":[{"type":"Action.OpenUrl","url":"https://x.example"}]}}]}`,
		"refresh only": `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","refresh":{"action":{"type":"Action.Execute","verb":"r"}}}}]}`,
		"not a card":   `{"type":"message","attachments":[{"contentType":"application/json","content":{"type":"Action.Execute","verb":"x"}}]}`,
		"broken":       `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":"Action.Execute"`,
	} {
		require.Nil(t, findExecute([]byte(body)), name)
	}

	// The card's actions come before its body, whatever the key order.
	both := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard",
"body":[{"type":"ActionSet","actions":[{"type":"Action.Execute","verb":"inner"}]}],"actions":[{"type":"Action.Execute","verb":"outer","id":"a1"}]}}]}`
	for range 5 {
		act := findExecute([]byte(both))
		require.Equal(t, "outer", act.Verb)
		require.Equal(t, "a1", act.ID)
		require.Nil(t, act.Data)
	}
}

func TestCheckInvokeResponseReturnsTheCard(t *testing.T) {
	t.Parallel()
	card, reason := checkInvokeResponse(200, []byte(`{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":{"type":"AdaptiveCard","body":[]}}`))
	require.Empty(t, reason)
	require.JSONEq(t, `{"type":"AdaptiveCard","body":[]}`, string(card))
	card, reason = checkInvokeResponse(200, []byte(`{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"ok"}`))
	require.Empty(t, reason)
	require.Nil(t, card)
	_, reason = checkInvokeResponse(200, []byte(`[]`))
	require.Contains(t, reason, "not a JSON object")
}
