package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// failReport fails the calls of the script that forgets a user reached,
// while fail is set, as a Redis that went away between two calls would.
type failReport struct{ fail atomic.Bool }

func (f *failReport) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failReport) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (f *failReport) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); f.fail.Load() && len(args) > 1 && args[0] == "evalsha" && args[1] == reachedScript.Hash() {
			err := errors.New("i/o timeout")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// A transition whose change is recorded but whose unreachable report
// could not be written says exactly that (ErrReportBehind, with the
// result applied); the same change again is found done, writes the
// report, and is no error.
func TestTransitionRecordedButReportBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, err := Connect(ctx, testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	hook := &failReport{}
	rdb.AddHook(hook)
	s := New(rdb)
	user := userN(1)
	b := newBroadcast(t, s, user)
	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: user, State: broadcast.StatePending, ConversationID: "c1"}})
	require.NoError(t, err)
	// An earlier broadcast could not reach the user.
	require.NoError(t, s.noteReach(ctx, b.TenantID, "earlier", broadcast.Recipient{UserID: user, State: broadcast.StateBlocked,
		Reason: broadcast.ReasonBlockedByUser, UpdatedAt: time.Now().Add(-time.Minute)}))
	_, err = s.Transition(ctx, b.ID, user, Change{To: broadcast.StateSending, Owner: "o1", Lease: time.Minute})
	require.NoError(t, err)

	hook.fail.Store(true)
	sent := Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: "a1"}
	res, err := s.Transition(ctx, b.ID, user, sent)
	require.ErrorIs(t, err, ErrReportBehind)
	require.True(t, res.Applied, "the state moved")
	require.Equal(t, broadcast.StateSent, res.Recipient.State)
	rec, err := s.Recipient(ctx, b.ID, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.StateSent, rec.State)
	still, err := rdb.HExists(ctx, s.unreachableKey(b.TenantID), user).Result()
	require.NoError(t, err)
	require.True(t, still, "the report is behind")

	hook.fail.Store(false)
	res, err = s.Transition(ctx, b.ID, user, sent)
	require.NoError(t, err)
	require.False(t, res.Applied)
	require.Equal(t, broadcast.StateSent, res.Prev)
	still, err = rdb.HExists(ctx, s.unreachableKey(b.TenantID), user).Result()
	require.NoError(t, err)
	require.False(t, still, "the report caught up")
}
