package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The edit's scripts keep its counters exact: a redelivered job counts
// once, a job of an older round is acked without a call, a newer round's
// call waits for an older one in flight, a recipient who did not get the
// message is no target, and the recall stops the edit.
func TestChangeCountersAndRounds(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	var rs []NewRecipient
	for i := 1; i <= 5; i++ {
		rs = append(rs, NewRecipient{UserID: userN(i), State: broadcast.StatePending, ConversationID: "conv-" + userN(i)})
	}
	_, err := s.AddRecipients(ctx, b.ID, rs)
	require.NoError(t, err)
	for i := 1; i <= 4; i++ { // user 5 is never sent
		_, err := s.Transition(ctx, b.ID, userN(i), Change{To: broadcast.StateSent, ActivityID: "act-" + userN(i)})
		require.NoError(t, err)
	}
	progress := func() broadcast.ChangeProgress {
		st, err := s.Change(ctx, b.ID, broadcast.StageEdit)
		require.NoError(t, err)
		return st.ChangeProgress
	}

	round, sent, err := s.StartEdit(ctx, b.ID, broadcast.Message{Text: "v1"}, []byte(`{"type":"message","text":"v1"}`))
	require.NoError(t, err)
	require.Equal(t, 1, round)
	require.EqualValues(t, 4, sent)
	users, next, superseded, err := s.ChangeCandidates(ctx, b.ID, broadcast.StageEdit, 1, "", 3)
	require.NoError(t, err)
	require.False(t, superseded)
	require.Equal(t, []string{userN(1), userN(2), userN(3)}, users)
	require.Equal(t, userN(3), next)
	n, err := s.AddChangeTargets(ctx, b.ID, broadcast.StageEdit, 1, users, next)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.AddChangeTargets(ctx, b.ID, broadcast.StageEdit, 1, append(users, userN(5)), "-")
	require.NoError(t, err)
	require.Zero(t, n, "known targets and a recipient without the message are not counted")
	require.Equal(t, broadcast.ChangeProgress{Round: 1, Status: broadcast.ChangeRunning, Total: 3, Pending: 3}, progress())

	// A claim, its redelivery while it is live, and the outcome.
	c, err := s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(1), 1, "a", time.Minute)
	require.NoError(t, err)
	require.Equal(t, ChangeClaim{Verdict: "ok", ConversationID: "conv-" + userN(1), ActivityID: "act-" + userN(1), Attempts: 1}, c)
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(1), 1, "b", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "busy", c.Verdict)
	v, err := s.SettleChange(ctx, b.ID, broadcast.StageEdit, userN(1), 1, "a", ChangeOutcome{To: ChangeDone})
	require.NoError(t, err)
	require.Equal(t, "ok", v)
	v, err = s.SettleChange(ctx, b.ID, broadcast.StageEdit, userN(1), 1, "a", ChangeOutcome{To: ChangeDone})
	require.NoError(t, err)
	require.Equal(t, "lost", v, "recorded once")
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(1), 1, "c", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "settled", c.Verdict, "a redelivery after the outcome calls nothing")
	// A released claim (a retry) counts the retry, not the recipient.
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(2), 1, "a", time.Minute)
	require.NoError(t, err)
	_, err = s.SettleChange(ctx, b.ID, broadcast.StageEdit, userN(2), 1, "a", ChangeOutcome{To: ChangePending, CountRetry: true})
	require.NoError(t, err)
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(2), 1, "a2", time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, c.Retries)
	require.Equal(t, 2, c.Attempts)
	// A job whose target was not counted yet (user 4) counts it.
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(4), 1, "d", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "ok", c.Verdict)
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(5), 1, "e", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "gone", c.Verdict, "user 5 did not get the message")
	require.Equal(t, broadcast.ChangeProgress{Round: 1, Status: broadcast.ChangeRunning, Total: 4, Pending: 3, Done: 1}, progress())

	// Round 2 supersedes round 1 while user 2's and user 4's calls are in flight.
	round, _, err = s.StartEdit(ctx, b.ID, broadcast.Message{Text: "v2"}, []byte(`{"type":"message","text":"v2"}`))
	require.NoError(t, err)
	require.Equal(t, 2, round)
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(3), 1, "old", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "superseded", c.Verdict)
	_, err = s.AddChangeTargets(ctx, b.ID, broadcast.StageEdit, 2, []string{userN(1), userN(2), userN(3), userN(4)}, "-")
	require.NoError(t, err)
	require.NoError(t, s.FinishChangeQueueing(ctx, b.ID, broadcast.StageEdit, 2))
	require.Equal(t, broadcast.ChangeProgress{Round: 2, Status: broadcast.ChangeRunning, Total: 4, Pending: 4}, progress())
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(2), 2, "new", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "busy", c.Verdict, "round 2 waits for round 1's call in flight")
	v, err = s.SettleChange(ctx, b.ID, broadcast.StageEdit, userN(2), 1, "a2", ChangeOutcome{To: ChangeDone})
	require.NoError(t, err)
	require.Equal(t, "superseded", v)
	require.Equal(t, broadcast.ChangeProgress{Round: 2, Status: broadcast.ChangeRunning, Total: 4, Pending: 4}, progress(), "round 1's outcome does not count in round 2")
	for _, u := range []string{userN(1), userN(2), userN(3)} {
		c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, u, 2, "new", time.Minute)
		require.NoError(t, err)
		require.Equal(t, "ok", c.Verdict, u)
		_, err = s.SettleChange(ctx, b.ID, broadcast.StageEdit, u, 2, "new", ChangeOutcome{To: ChangeDone})
		require.NoError(t, err)
	}

	// The recall: the edit's last recipient ends skipped once its call in flight is over.
	started, _, _, err := s.StartRecall(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, started)
	started, _, _, err = s.StartRecall(ctx, b.ID)
	require.NoError(t, err)
	require.False(t, started)
	_, _, err = s.StartEdit(ctx, b.ID, broadcast.Message{Text: "v3"}, []byte(`{}`))
	var conflict *broadcast.ConflictError
	require.ErrorAs(t, err, &conflict)
	_, err = s.SettleChange(ctx, b.ID, broadcast.StageEdit, userN(4), 1, "d", ChangeOutcome{To: ChangeDone})
	require.NoError(t, err)
	c, err = s.ClaimChange(ctx, b.ID, broadcast.StageEdit, userN(4), 2, "new", time.Minute)
	require.NoError(t, err)
	require.Equal(t, "recalled", c.Verdict)
	require.Equal(t, broadcast.ChangeProgress{Round: 2, Status: broadcast.ChangeCompleted, Total: 4, Done: 3, Skipped: 1}, progress())

	// A send recorded after the recall started is the recall's.
	op, _, err := s.FollowSent(ctx, b.ID, userN(5), 2)
	require.NoError(t, err)
	require.Equal(t, broadcast.StageRecall, op)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "v2", got.Message.Text)
	require.Equal(t, broadcast.ChangeProgress{Round: 2, Status: broadcast.ChangeCompleted, Total: 4, Done: 3, Skipped: 1}, *got.Edit)
	require.NotNil(t, got.Recall)
}

// A send recorded with an activity older than the edit's round is the
// edit's; with the current one it is no target of the round.
func TestFollowSent(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	op, round, err := s.FollowSent(ctx, b.ID, userN(1), 0)
	require.NoError(t, err)
	require.Equal(t, broadcast.Stage(""), op, "no edit, no recall")
	require.Zero(t, round)
	_, _, err = s.StartEdit(ctx, b.ID, broadcast.Message{Text: "v1"}, []byte(`{"type":"message","text":"v1"}`))
	require.NoError(t, err)
	op, round, err = s.FollowSent(ctx, b.ID, userN(1), 0)
	require.NoError(t, err)
	require.Equal(t, broadcast.StageEdit, op)
	require.Equal(t, 1, round)
	act, v, err := s.ActivityVersion(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.JSONEq(t, `{"type":"message","text":"v1"}`, string(act))

	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(2), State: broadcast.StatePending, ConversationID: "c"}})
	require.NoError(t, err)
	_, err = s.Transition(ctx, b.ID, userN(2), Change{To: broadcast.StateSent, ActivityID: "a"})
	require.NoError(t, err)
	op, _, err = s.FollowSent(ctx, b.ID, userN(2), 1)
	require.NoError(t, err)
	require.Equal(t, broadcast.Stage(""), op)
	users, _, _, err := s.ChangeCandidates(ctx, b.ID, broadcast.StageEdit, 1, "", 100)
	require.NoError(t, err)
	require.Empty(t, users, "sent with the round's activity: no target")
}
