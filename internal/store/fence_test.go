package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// frozenStore is a store on a redis-server of the test's own, whose client
// freezes the server (SIGSTOP) right before it sends the next run of a
// script, and thaws it (SIGCONT) a while later.
type frozenStore struct {
	*Store
	srv    *devenv.RedisServer
	sha    atomic.Value // the script to freeze on
	after  time.Duration
	thawed chan struct{}
}

func newFrozenStore(t *testing.T, f Fence) *frozenStore {
	t.Helper()
	srv, err := devenv.NewRedisServer(context.Background(), t.TempDir(), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	rdb, err := Connect(context.Background(), srv.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	fs := &frozenStore{srv: srv}
	rdb.AddHook(fs)
	fs.Store = New(rdb).WithFence(f)
	return fs
}

// freezeOn arms the hook: the next run of script freezes the server for d.
func (f *frozenStore) freezeOn(script *redis.Script, d time.Duration) {
	f.after, f.thawed = d, make(chan struct{})
	f.sha.Store(script.Hash())
}

func (f *frozenStore) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *frozenStore) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if sha, _ := f.sha.Load().(string); sha != "" && cmd.Name() == "evalsha" && len(args) > 1 && args[1] == sha && f.sha.CompareAndSwap(sha, "") {
			if err := f.srv.Freeze(); err != nil {
				return err
			}
			time.AfterFunc(f.after, func() {
				if err := f.srv.Thaw(); err != nil {
					panic(err)
				}
				close(f.thawed)
			})
		}
		return next(ctx, cmd)
	}
}

func (f *frozenStore) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// load runs every fenced script once, as a running service has: a run
// that waited in a socket finds its script loaded when Redis comes back.
func (f *frozenStore) load(t *testing.T) {
	t.Helper()
	for _, s := range []*redis.Script{createScript, startReplayScript, probeScript} {
		require.NoError(t, s.Load(context.Background(), f.rdb).Err())
	}
}

func stalledBroadcast(t *testing.T) *broadcast.Broadcast {
	return &broadcast.Broadcast{ID: uuid.NewString(), TenantID: testenv.FreeTenant(t), Message: broadcast.Message{Text: "hello"},
		Audience: broadcast.Audience{UserIDs: []string{userN(1)}}, Status: broadcast.StatusExpanding,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

// A write that waited in a frozen Redis's socket past its fence does
// nothing when Redis runs again, and the call, which looked for it,
// says so: ErrNotApplied, and no broadcast.
func TestWriteStuckPastItsFenceNeverLands(t *testing.T) {
	t.Parallel()
	s := newFrozenStore(t, Fence{Window: 500 * time.Millisecond, Budget: time.Minute})
	s.load(t)
	b := stalledBroadcast(t)
	s.freezeOn(createScript, 5*time.Second)
	err := s.CreateBroadcast(context.Background(), b, []byte(`{}`))
	require.ErrorIs(t, err, ErrNotApplied)
	<-s.thawed
	exists, err := s.BroadcastExists(context.Background(), b.ID)
	require.NoError(t, err)
	require.False(t, exists)
	expanding, err := s.Expanding(context.Background())
	require.NoError(t, err)
	require.NotContains(t, expanding, b.ID)
}

// A write whose answer was lost in a frozen Redis, sent again by the
// client on another connection, runs once when Redis runs again, within
// its fence: the second run answers what the first did.
func TestWriteSentTwiceRunsOnce(t *testing.T) {
	t.Parallel()
	s := newFrozenStore(t, Fence{Window: 30 * time.Second, Budget: time.Minute})
	s.load(t)
	b := stalledBroadcast(t)
	require.NoError(t, s.CreateBroadcast(context.Background(), b, []byte(`{}`)))
	_, err := s.FinishExpansion(context.Background(), b.ID)
	require.NoError(t, err)

	// Frozen beyond the client's read timeout (3 s): it sends it again.
	s.freezeOn(startReplayScript, 4*time.Second)
	round, err := s.StartReplay(context.Background(), b.ID)
	require.NoError(t, err)
	require.Equal(t, 1, round)
	<-s.thawed
	got, err := s.Broadcast(context.Background(), b.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Replays, "one round, though sent twice")
}

// A call that hears nothing from Redis within its budget answers that its
// outcome is unknown, naming the broadcast and the end of its fence; the
// write, stuck past it, never lands.
func TestOutcomeUnknownWhileRedisIsSilent(t *testing.T) {
	t.Parallel()
	s := newFrozenStore(t, Fence{Window: 500 * time.Millisecond, Budget: 2 * time.Second})
	s.load(t)
	b := stalledBroadcast(t)
	s.freezeOn(createScript, 8*time.Second)
	before := time.Now()
	err := s.CreateBroadcast(context.Background(), b, []byte(`{}`))
	var unknown *broadcast.OutcomeUnknownError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, "create", unknown.Op)
	require.Equal(t, b.ID, unknown.BroadcastID)
	require.WithinRange(t, unknown.NotAfter, before.Add(-time.Minute), before.Add(time.Minute)) // Redis's clock, not ours
	<-s.thawed
	exists, err := s.BroadcastExists(context.Background(), b.ID)
	require.NoError(t, err)
	require.False(t, exists)
}

// A fenced script run after its deadline does nothing and says so.
func TestFencedScriptAfterItsDeadlineDoesNothing(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	now, err := s.rdb.Time(ctx).Result()
	require.NoError(t, err)
	k := s.keysOf(b.ID)
	err = cancelScript.Run(ctx, s.rdb, append(k.script(), k.ops), s.nowMS(), b.ID, uuid.NewString(), now.Add(-time.Millisecond).UnixMilli()).Err()
	require.Error(t, err)
	require.True(t, isFenced(err), "%v", err)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusExpanding, got.Status)

	// Within its deadline it runs, once per token.
	token := uuid.NewString()
	for range 2 {
		st, err := cancelScript.Run(ctx, s.rdb, append(k.script(), k.ops), s.nowMS(), b.ID, token, now.Add(time.Minute).UnixMilli()).Text()
		require.NoError(t, err)
		require.Equal(t, "expanding", st, "the second run answers the first's")
	}
}
