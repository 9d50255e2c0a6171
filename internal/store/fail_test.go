package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A broadcast whose expansion fails before any recipient is failed at
// once, out of broadcasts:expanding, with its error; nothing reopens or
// cancels it after.
func TestFailExpansionWithoutRecipients(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	const msg = "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (directory sync)"

	st, err := s.FailExpansion(ctx, b.ID, msg)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, st)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Equal(t, msg, got.Error)
	require.NotNil(t, got.CompletedAt)
	require.Nil(t, got.CanceledAt)
	ids, err := s.Expanding(ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, b.ID)
	done, err := s.Finished(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, done)

	// Another dispatcher still expanding it adds nothing.
	_, err = s.AddAudience(ctx, b.ID, []string{userN(1)})
	require.ErrorIs(t, err, ErrCanceled)
	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending}})
	require.ErrorIs(t, err, ErrCanceled)

	st, err = s.FailExpansion(ctx, b.ID, "again")
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, st, "a second failure changes nothing")
	prev, err := s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, prev)
	_, err = s.FinishExpansion(ctx, b.ID) // a sweep or a late expansion finishing
	require.NoError(t, err)
	_, err = s.StartReplay(ctx, b.ID)
	var conflict *broadcast.ConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, "failed", conflict.Code)
	got, err = s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Equal(t, msg, got.Error)
}

// Recipients recorded before the failure are stopped as a cancel stops
// them, and the broadcast ends failed, not canceled, with exact counters.
func TestFailExpansionSweepsRecipients(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending},
		{UserID: userN(2), State: broadcast.StateInstalling}, {UserID: userN(3), State: broadcast.StatePending}})
	require.NoError(t, err)
	_, err = s.Transition(ctx, b.ID, userN(3), Change{To: broadcast.StateSent})
	require.NoError(t, err)

	st, err := s.FailExpansion(ctx, b.ID, "Graph 403 Forbidden (users listing)")
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCanceling, st)
	ids, err := s.Canceling(ctx)
	require.NoError(t, err)
	require.Contains(t, ids, b.ID)
	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(4), State: broadcast.StatePending}})
	require.ErrorIs(t, err, ErrCanceled, "no recipient is added after the failure")

	sw, err := s.SweepCanceled(ctx, b.ID, 1000)
	require.NoError(t, err)
	require.Equal(t, Sweep{Moved: 2, Left: 0, Status: broadcast.StatusFailed}, sw)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Equal(t, "Graph 403 Forbidden (users listing)", got.Error)
	require.Equal(t, broadcast.Counts{Total: 3, Sent: 1, Canceled: 2}, got.Counts)
	ids, err = s.Canceling(ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, b.ID)
}

// A cancel first wins: the failure of its expansion changes nothing.
func TestFailExpansionAfterCancel(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	st, err := s.FailExpansion(ctx, b.ID, "late")
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCanceling, st)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Empty(t, got.Error)
}

// A stall is timed from the first failure at a position; a failure
// further on starts again.
func TestExpansionStalled(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	t0 := time.Now().Truncate(time.Millisecond)
	s.now = func() time.Time { return t0 }
	since, err := s.ExpansionStalled(ctx, b.ID, "allUsers||")
	require.NoError(t, err)
	require.True(t, since.Equal(t0))
	s.now = func() time.Time { return t0.Add(time.Minute) }
	since, err = s.ExpansionStalled(ctx, b.ID, "allUsers||")
	require.NoError(t, err)
	require.True(t, since.Equal(t0), "same position: still stalled since the first failure")
	since, err = s.ExpansionStalled(ctx, b.ID, "groupIds|1||")
	require.NoError(t, err)
	require.True(t, since.Equal(t0.Add(time.Minute)), "progress: timed again")
	_, err = s.ExpansionStalled(ctx, "missing", "x")
	require.ErrorIs(t, err, ErrNotFound)
}
