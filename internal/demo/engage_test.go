package demo

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The announcement with its acknowledge button is a message the API
// accepts, and its button is what the simulator's users click.
func TestAnnouncementWithAcknowledge(t *testing.T) {
	t.Parallel()
	msg := withAcknowledge(announcement("Title"))
	body, err := json.Marshal(createRequest{Message: msg, Audience: broadcast.Audience{AllUsers: true}})
	require.NoError(t, err)
	_, err = broadcast.DecodeCreateRequest(strings.NewReader(string(body)))
	require.NoError(t, err)
	var card struct {
		Actions []map[string]any `json:"actions"`
	}
	require.NoError(t, json.Unmarshal(msg.Card, &card))
	require.Len(t, card.Actions, 2, "the link stays, the button is added")
	require.Equal(t, "Action.Execute", card.Actions[1]["type"])
	require.Equal(t, "acknowledge", card.Actions[1]["verb"])
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	require.Zero(t, quantile(nil, 0.99))
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, quantile(d, 0.50))
	require.Equal(t, 99*time.Millisecond, quantile(d, 0.99))
	require.Equal(t, 100*time.Millisecond, quantile(d, 1))
	require.Equal(t, time.Millisecond, quantile(d[:1], 0.99))
}
