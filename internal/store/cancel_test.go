package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A cancel refuses new recipients and claims, turns releases into
// canceled, leaves a live claim to its sender, and the sweep moves the
// waiting recipients (and a claim that ran out) with exact counters.
func TestCancelAndSweep(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	var rs []NewRecipient
	for i := 1; i <= 2500; i++ {
		st := broadcast.StatePending
		if i%5 == 0 {
			st = broadcast.StateInstalling
		}
		rs = append(rs, NewRecipient{UserID: userN(i), State: st})
	}
	_, err := s.AddRecipients(ctx, b.ID, rs)
	require.NoError(t, err)
	claim := func(user, owner string) Result {
		res, err := s.Transition(ctx, b.ID, user, Change{From: []broadcast.State{broadcast.StatePending, broadcast.StateSending},
			To: broadcast.StateSending, Owner: owner, Lease: time.Minute})
		require.NoError(t, err)
		return res
	}
	require.True(t, claim(userN(1), "live").Applied)
	require.True(t, claim(userN(2), "releases").Applied)
	require.True(t, claim(userN(3), "dies").Applied)
	_, err = s.Transition(ctx, b.ID, userN(4), Change{To: broadcast.StateSent})
	require.NoError(t, err)

	prev, err := s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusExpanding, prev)
	prev, err = s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCanceling, prev, "a second cancel changes nothing")
	ids, err := s.Canceling(ctx)
	require.NoError(t, err)
	require.Contains(t, ids, b.ID)

	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(9999), State: broadcast.StatePending}})
	require.ErrorIs(t, err, ErrCanceled, "an expansion page after the cancel adds nothing")

	res := claim(userN(6), "late")
	require.False(t, res.Applied, "no claim after the cancel")
	require.True(t, res.Canceled)
	require.Equal(t, broadcast.StateCanceled, res.Recipient.State)

	// Released after a send that got no answer: canceled, and still a
	// possible duplicate (the user may have it).
	res, err = s.Transition(ctx, b.ID, userN(2), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StatePending, MaybeDelivered: true})
	require.NoError(t, err)
	require.True(t, res.Canceled, "a release after the cancel ends canceled")

	_, err = s.FinishExpansion(ctx, b.ID)
	require.NoError(t, err)
	var moved int
	for {
		sw, err := s.SweepCanceled(ctx, b.ID, 1000)
		require.NoError(t, err)
		moved += sw.Moved
		if sw.Moved == 0 {
			require.Equal(t, int64(2), sw.Left, "the live claim and the dead one are left")
			require.Equal(t, broadcast.StatusCanceling, sw.Status)
			break
		}
	}
	require.Equal(t, 2500-5, moved) // less the three claims, the sent one, the late one

	// A live claim's send ends as it ends: Teams had the message.
	_, err = s.Transition(ctx, b.ID, userN(1), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent})
	require.NoError(t, err)
	// The dead sender's claim is swept once its lease has run out.
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	sw, err := s.SweepCanceled(ctx, b.ID, 1000)
	require.NoError(t, err)
	require.Equal(t, Sweep{Moved: 1, Left: 0, Status: broadcast.StatusCanceled}, sw)
	s.now = time.Now

	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCanceled, got.Status)
	require.NotNil(t, got.CanceledAt)
	require.NotNil(t, got.CompletedAt)
	require.Equal(t, broadcast.Counts{Total: 2500, Sent: 2, Canceled: 2498, PossibleDuplicates: 1}, got.Counts)
	page, _, err := s.Recipients(ctx, b.ID, broadcast.StateCanceled, "", 1000)
	require.NoError(t, err)
	require.Len(t, page, 1000)
	ids, err = s.Canceling(ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, b.ID)
	done, err := s.Finished(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, done)

	prev, err = s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCanceled, prev)
}

func TestCancelAfterCompletionChangesNothing(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending}})
	require.NoError(t, err)
	_, err = s.FinishExpansion(ctx, b.ID)
	require.NoError(t, err)
	_, err = s.Transition(ctx, b.ID, userN(1), Change{To: broadcast.StateSent})
	require.NoError(t, err)

	prev, err := s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCompleted, prev)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCompleted, got.Status)
	require.Nil(t, got.CanceledAt)
}
