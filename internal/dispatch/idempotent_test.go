package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

var errInjected = errors.New("injected: Redis refused the broadcast's record")

// failRecordWrites makes every script that writes a broadcast's record
// (it names a {b:<id>}:meta key and the audience lists) fail before it reaches
// Redis: the create's write fails after its key was claimed.
type failRecordWrites struct{}

func (failRecordWrites) DialHook(next redis.DialHook) redis.DialHook { return next }
func (failRecordWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			meta, lists := false, false
			for _, a := range cmd.Args() {
				s, _ := a.(string)
				meta, lists = meta || strings.HasSuffix(s, "}:meta"), lists || strings.HasSuffix(s, "}:in:xupns")
			}
			if meta && lists { // the create script
				return errInjected
			}
		}
		return next(ctx, cmd)
	}
}
func (failRecordWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func allUsers(text string) *broadcast.CreateRequest {
	req := &broadcast.CreateRequest{Message: broadcast.Message{Text: text}, Audience: broadcast.Audience{AllUsers: true}}
	if err := req.Normalize(); err != nil {
		panic(err)
	}
	return req
}

// broadcastsOf lists the ids of the tenant's broadcasts.
func (b *bundle) broadcastsOf() []string {
	b.t.Helper()
	ctx := context.Background()
	ids, err := b.st.Client().ZRange(ctx, "broadcasts", 0, -1).Result()
	require.NoError(b.t, err)
	var out []string
	for _, id := range ids {
		if t, err := b.st.Client().HGet(ctx, "{b:"+id+"}:meta", "tenant").Result(); err == nil && t == b.tenant {
			out = append(out, id)
		}
	}
	return out
}

// A create whose write fails after the claim releases its key: the retry
// creates the broadcast, and there is one.
func TestFailedCreateReleasesItsKey(t *testing.T) {
	t.Parallel()
	b := setup(t, 5, testenv.Logger(t))
	ctx := context.Background()
	rdb, err := store.Connect(ctx, testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	rdb.AddHook(failRecordWrites{})
	broken := dispatch.New(dispatch.Config{Tenants: []string{b.tenant}}, store.New(rdb), b.q, nil, b.log)

	// The write's answer is lost: the store finds out it did not land.
	_, _, err = broken.CreateOnce(ctx, allUsers("payroll"), "pay-1")
	require.ErrorIs(t, err, store.ErrNotApplied)
	require.Empty(t, b.broadcastsOf())

	d := b.dispatcher(nil)
	b.run(d)
	got, replayed, err := d.CreateOnce(ctx, allUsers("payroll"), "pay-1")
	require.NoError(t, err, "the key was released, not left pointing at nothing")
	require.False(t, replayed)
	again, replayed, err := d.CreateOnce(ctx, allUsers("payroll"), "pay-1")
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, got.ID, again.ID)
	require.Equal(t, []string{got.ID}, b.broadcastsOf())
	testenv.Eventually(t, 30*time.Second, func() bool { return b.expanded(got.ID) }, "expanded")
}

// A create that died between the claim and the write: retries within the
// grace are told to wait; after it, one of several concurrent retries
// writes the broadcast under the claimed id, and it is expanded once.
func TestCreateThatDiedIsRedoneAfterTheGrace(t *testing.T) {
	t.Parallel()
	b := setup(t, 30, testenv.Logger(t))
	ctx := context.Background()
	const grace = 3 * time.Second
	d := dispatch.New(dispatch.Config{Tenants: []string{b.tenant}, ResumeEvery: 50 * time.Millisecond, IdempotencyGrace: grace}, b.st, b.q,
		func(string) (dispatch.Users, error) { return b.graphs.For(b.tenant) }, b.log)
	b.run(d)
	id, err := d.ClaimOnly(ctx, allUsers("benefits"), "ben-1")
	require.NoError(t, err)

	_, _, err = d.CreateOnce(ctx, allUsers("benefits"), "ben-1")
	var busy *broadcast.KeyInProgressError
	require.ErrorAs(t, err, &busy)
	require.Equal(t, id, busy.BroadcastID)
	require.GreaterOrEqual(t, busy.RetryAfter, time.Second)
	require.LessOrEqual(t, busy.RetryAfter, grace)
	_, _, err = d.CreateOnce(ctx, allUsers("something else"), "ben-1")
	var reused *broadcast.KeyReusedError
	require.ErrorAs(t, err, &reused, "a different request is refused even while the key is in progress")

	testenv.Eventually(t, 30*time.Second, func() bool {
		c, fresh, err := b.st.ClaimIdempotencyKey(ctx, store.IdempotencyKey{Tenant: b.tenant, Key: "ben-1"}, "probe", "probe", time.Hour)
		require.NoError(t, err)
		require.False(t, fresh)
		return c.Age > grace
	}, "the grace period ends")

	const n = 8
	type result struct {
		b        *broadcast.Broadcast
		replayed bool
		err      error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got, replayed, err := d.CreateOnce(ctx, allUsers("benefits"), "ben-1")
			results[i] = result{got, replayed, err}
		})
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		if errors.As(r.err, &busy) {
			continue
		}
		require.NoError(t, r.err)
		require.Equal(t, id, r.b.ID, "the broadcast takes the id the key was claimed for")
		if !r.replayed {
			created++
		}
	}
	require.Equal(t, 1, created, "one retry takes the key over")
	require.Equal(t, []string{id}, b.broadcastsOf())

	testenv.Eventually(t, 30*time.Second, func() bool { return b.expanded(id) }, "expanded")
	got, err := b.st.Broadcast(ctx, id)
	require.NoError(t, err)
	require.Equal(t, b.members(), got.Counts.Total)
	install, send := b.jobs(id)
	require.EqualValues(t, b.members(), install+send, "one job per recipient")
	again, replayed, err := d.CreateOnce(ctx, allUsers("benefits"), "ben-1")
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, id, again.ID)
}
