package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// The jobs a tenant may have in hand follow its rate times the time a job
// is busy: they grow when the service slows down and shrink when it speeds
// up, within the ceiling.
func TestInFlightFollowsLatency(t *testing.T) {
	t.Parallel()
	rate := 500.0
	f := queue.NewInFlight(func(string) float64 { return rate }, 512)
	require.Equal(t, 512, f.Limit("t"), "the ceiling until a job has ended")

	settle := func(busy time.Duration) int {
		for range 200 {
			f.Observe("t", busy)
		}
		return f.Limit("t")
	}
	fast := settle(20 * time.Millisecond)  // 10 busy at once
	slow := settle(100 * time.Millisecond) // 50 busy at once
	require.GreaterOrEqual(t, fast, 10)
	require.GreaterOrEqual(t, slow, 50)
	require.Greater(t, slow, 3*fast, "a slower service needs more in hand")
	require.Less(t, settle(20*time.Millisecond), slow, "and fewer again when it speeds up")

	rate = 50
	require.Less(t, f.Limit("t"), fast, "a lower rate needs fewer")
	require.Equal(t, 512, settle(10*time.Second), "never above the ceiling")
	require.Equal(t, 512, f.Limit("other"), "per tenant")
}

// The scheduler holds as many of a tenant's jobs as its Limit says at the
// time, not a fixed number: raising the limit lets more in at once.
func TestSchedulerFollowsALimitThatChanges(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx := context.Background()
	for i := range 12 {
		require.NoError(t, q.Publish(ctx, broadcast.StageInstall, job(i)))
	}
	require.NoError(t, q.EnsureConsumers(ctx, tenant, "b1", broadcast.PriorityNormal))
	var limit, inHand, most atomic.Int32
	limit.Store(2)
	release := make(chan struct{})
	h := func(ctx context.Context, m jetstream.Msg) error {
		n := inHand.Add(1)
		defer inHand.Add(-1)
		for old := most.Load(); n > old && !most.CompareAndSwap(old, n); old = most.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	s := queue.NewScheduler(queue.SchedulerConfig{Stage: broadcast.StageInstall, Concurrency: 8, Refresh: 50 * time.Millisecond,
		Limit: func(string) int { return int(limit.Load()) }}, q, running{}, h, testenv.Logger(t))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = s.Run(runCtx); close(done) }()
	t.Cleanup(func() { close(release); cancel(); <-done })

	testenv.Eventually(t, 10*time.Second, func() bool { return inHand.Load() == 2 }, "two jobs in hand")
	limit.Store(6)
	// A job's end wakes the lane; until then it looks again within a second.
	testenv.Eventually(t, 10*time.Second, func() bool { return inHand.Load() == 6 }, "six once the limit is six")
	limit.Store(100)
	testenv.Eventually(t, 10*time.Second, func() bool { return inHand.Load() == 8 }, "the ceiling holds")
	require.LessOrEqual(t, most.Load(), int32(8))
}
