package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A renewed claim outlives its first lease and refuses another owner; once
// its owner stops renewing (it died), the lease runs out and another owner
// takes it over, counted as a possible duplicate. The old owner's renewals
// and releases then fail.
func TestRenewedClaimIsKeptAndAnUnrenewedOneTakenOver(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending}})
	require.NoError(t, err)
	const lease = 5 * time.Second
	t0 := time.Now()
	at := func(d time.Duration) { s.now = func() time.Time { return t0.Add(d) } }
	claim := func(owner string) Result {
		res, err := s.Transition(ctx, b.ID, userN(1), Change{From: []broadcast.State{broadcast.StatePending, broadcast.StateSending},
			To: broadcast.StateSending, Owner: owner, Lease: lease, CountAttempt: true})
		require.NoError(t, err)
		return res
	}
	renew := func(owner string) bool {
		ok, err := s.RenewClaim(ctx, b.ID, userN(1), owner, lease)
		require.NoError(t, err)
		return ok
	}

	at(0)
	require.True(t, claim("a").Applied)
	for _, d := range []time.Duration{4 * time.Second, 8 * time.Second, 12 * time.Second} {
		at(d)
		require.True(t, renew("a"), "renewed at %s", d)
	}
	at(16 * time.Second) // three leases after the claim, one second after the last renewal
	require.True(t, claim("b").Busy, "a live owner's claim is refused")

	at(17*time.Second + time.Millisecond) // a lease after a's last renewal
	res := claim("b")
	require.True(t, res.Applied, "taken over once the lease ran out")
	require.Equal(t, broadcast.StateSending, res.Prev)
	require.False(t, renew("a"), "the dead owner's claim is gone")
	require.True(t, renew("b"))
	// An owner that was only stalled comes back: it cannot end the claim
	// taken over (a release would let a third delivery send alongside b).
	res, err = s.Transition(ctx, b.ID, userN(1), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StatePending, Owner: "a"})
	require.NoError(t, err)
	require.True(t, res.Lost)
	require.False(t, res.Applied)
	require.True(t, renew("b"), "still b's")
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, got.Counts.PossibleDuplicates, "a takeover counts a possible duplicate")

	_, err = s.Transition(ctx, b.ID, userN(1), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: "act"})
	require.NoError(t, err)
	require.False(t, renew("b"), "a settled claim is not renewed")
	rec, err := s.Recipient(ctx, b.ID, userN(1))
	require.NoError(t, err)
	require.Equal(t, broadcast.StateSent, rec.State)
	require.Equal(t, "act", rec.ActivityID, "the renewals left the record whole")
}

// The claim on an edit or recall call is renewed the same way.
func TestRenewedChangeClaim(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending, ConversationID: "conv"}})
	require.NoError(t, err)
	_, err = s.Transition(ctx, b.ID, userN(1), Change{To: broadcast.StateSent, ActivityID: "act"})
	require.NoError(t, err)
	_, _, _, err = s.StartRecall(ctx, b.ID)
	require.NoError(t, err)
	_, err = s.AddChangeTargets(ctx, b.ID, broadcast.StageRecall, 1, []string{userN(1)}, "-")
	require.NoError(t, err)

	const lease = 5 * time.Second
	t0 := time.Now()
	at := func(d time.Duration) { s.now = func() time.Time { return t0.Add(d) } }
	claim := func(owner string) string {
		c, err := s.ClaimChange(ctx, b.ID, broadcast.StageRecall, userN(1), 1, owner, lease)
		require.NoError(t, err)
		return c.Verdict
	}
	renew := func(owner string) bool {
		ok, err := s.RenewChangeClaim(ctx, b.ID, broadcast.StageRecall, userN(1), owner, lease)
		require.NoError(t, err)
		return ok
	}
	at(0)
	require.Equal(t, "ok", claim("a"))
	at(4 * time.Second)
	require.True(t, renew("a"))
	at(8 * time.Second)
	require.Equal(t, "busy", claim("b"), "renewed: still a's")
	at(9*time.Second + time.Millisecond)
	require.Equal(t, "ok", claim("b"), "not renewed: taken over")
	require.False(t, renew("a"))
	v, err := s.SettleChange(ctx, b.ID, broadcast.StageRecall, userN(1), 1, "b", ChangeOutcome{To: ChangeDone})
	require.NoError(t, err)
	require.Equal(t, "ok", v)
	require.False(t, renew("b"), "a settled claim is not renewed")
}
