package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Each outcome counts once, in the minute it was recorded; a cancel and
// a transition refused (final already) count nothing.
func TestDeliveriesCountOutcomesPerMinute(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	var add []NewRecipient
	for i := 1; i <= 5; i++ {
		add = append(add, NewRecipient{UserID: userN(i), State: broadcast.StatePending})
	}
	_, err := s.AddRecipients(ctx, b.ID, add)
	require.NoError(t, err)
	t0 := time.Date(2026, 12, 7, 9, 0, 10, 0, time.UTC)
	move := func(at time.Time, user int, to broadcast.State) bool {
		s.now = func() time.Time { return at }
		res, err := s.Transition(ctx, b.ID, userN(user), Change{To: to})
		require.NoError(t, err)
		return res.Applied
	}
	require.True(t, move(t0, 1, broadcast.StateSent))
	require.True(t, move(t0.Add(20*time.Second), 2, broadcast.StateBlocked))
	require.True(t, move(t0.Add(70*time.Second), 3, broadcast.StateSent))
	require.False(t, move(t0.Add(70*time.Second), 3, broadcast.StateFailed), "sent is final")
	require.True(t, move(t0.Add(2*time.Hour), 4, broadcast.StateFailed))
	require.True(t, move(t0.Add(2*time.Hour), 5, broadcast.StateCanceled))
	s.now = time.Now

	got, err := s.Deliveries(ctx, b.ID, t0)
	require.NoError(t, err)
	require.Equal(t, []DeliveryPoint{
		{At: t0.Truncate(time.Minute), Sent: 1, Blocked: 1},
		{At: t0.Add(time.Minute).Truncate(time.Minute), Sent: 1},
	}, got.Minutes)
	require.Equal(t, []DeliveryPoint{{At: t0.Add(2 * time.Hour).Truncate(time.Hour), Failed: 1}}, got.Hours)

	none, err := s.Deliveries(ctx, "no-such-broadcast", t0)
	require.NoError(t, err)
	require.Empty(t, none.Minutes)
	require.Empty(t, none.Hours)
}
