package send

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// loseReply runs the first script call that carries marker and then
// answers an error, as a reply lost on its way back would be.
type loseReply struct {
	marker string
	done   atomic.Bool
}

func (l *loseReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *loseReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (l *loseReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if args := cmd.Args(); err == nil && args[0] == "evalsha" && carries(args, l.marker) && l.done.CompareAndSwap(false, true) {
			err = errors.New("i/o timeout")
			cmd.SetErr(err)
		}
		return err
	}
}

func carries(args []any, marker string) bool {
	for _, a := range args {
		if b, ok := a.([]byte); ok {
			a = string(b)
		}
		if s, ok := a.(string); ok && strings.Contains(s, marker) {
			return true
		}
	}
	return false
}

// A delivery whose record was written but whose answer was lost is found
// recorded on the retry: not reported as a duplicate. A recipient settled
// by another delivery is.
func TestRecordSentTellsItsOwnRecordFromADuplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, err := store.Connect(ctx, testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	rdb.AddHook(&loseReply{marker: `"act":"mine"`})
	st := store.New(rdb)
	core, logs := observer.New(zapcore.WarnLevel)
	s := New(Config{ProcessID: "p"}, st, nil, nil, ratelimit.NewTenants(100, st), zap.New(core))

	tenant := testenv.FreeTenant(t)
	users := []string{uuid.NewString(), uuid.NewString()}
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: tenant, Message: broadcast.Message{Text: "hi"},
		Audience: broadcast.Audience{UserIDs: users}, Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC()}
	require.NoError(t, st.CreateBroadcast(ctx, b, []byte(`{"type":"message","text":"hi"}`)))
	for _, u := range users {
		_, err := st.AddRecipients(ctx, b.ID, []store.NewRecipient{{UserID: u, State: broadcast.StatePending, ConversationID: "c"}})
		require.NoError(t, err)
		_, err = st.Transition(ctx, b.ID, u, store.Change{To: broadcast.StateSending, Owner: "o", Lease: time.Minute})
		require.NoError(t, err)
	}

	job := broadcast.Job{BroadcastID: b.ID, TenantID: tenant, UserID: users[0]}
	require.NoError(t, s.recordSent(ctx, job, "c", "mine", s.log))
	rec, err := st.Recipient(ctx, b.ID, users[0])
	require.NoError(t, err)
	require.Equal(t, broadcast.StateSent, rec.State)
	require.Zero(t, logs.FilterMessageSnippet("duplicate").Len(), "its own record is not a duplicate")

	// Another delivery sent the second user first.
	_, err = st.Transition(ctx, b.ID, users[1], store.Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: "theirs"})
	require.NoError(t, err)
	job.UserID = users[1]
	require.NoError(t, s.recordSent(ctx, job, "c", "other", s.log))
	require.Equal(t, 1, logs.FilterMessageSnippet("duplicate").Len())
}
