package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// deadLetters records a stage's dead letters, failing the first fail of them.
type deadLetters struct {
	mu     sync.Mutex
	fail   int
	causes map[string][]error // by user
}

func (d *deadLetters) record(_ context.Context, m jetstream.Msg, cause error) error {
	j, err := broadcast.DecodeJob(m.Data())
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.causes == nil {
		d.causes = map[string][]error{}
	}
	d.causes[j.UserID] = append(d.causes[j.UserID], cause)
	if d.fail > 0 {
		d.fail--
		return errors.New("dead letter not recorded")
	}
	return nil
}

func (d *deadLetters) of(user string) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.causes[user]...)
}

// calls counts a handler's calls by user.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) add(m jetstream.Msg) int {
	j, _ := broadcast.DecodeJob(m.Data())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[j.UserID]++
	return c.n[j.UserID]
}

func (c *calls) of(user string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[user]
}

// runScheduler runs an install scheduler of broadcast b1 with dl as its
// dead letter, failures counted in Redis, until the test ends.
func runScheduler(t *testing.T, q *queue.Queue, h queue.Handler, dl queue.DeadLetter, maxFailures int) {
	t.Helper()
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, q.EnsureConsumers(context.Background(), tenant, "b1", broadcast.PriorityNormal))
	s := queue.NewScheduler(queue.SchedulerConfig{Stage: broadcast.StageInstall, Concurrency: 2, Refresh: 50 * time.Millisecond,
		Grace: time.Second, DeadLetter: dl, MaxFailures: maxFailures}, q, unfinished{store.New(rdb)}, h, testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// unfinished counts failures in Redis, and its broadcast b1 never
// finishes: it has no record, which would tell the scheduler it finished
// and have it delete b1's consumers under the test.
type unfinished struct{ *store.Store }

func (unfinished) Finished(context.Context, string) (bool, error) { return false, nil }

// settled waits until the broadcast's install consumer holds no job.
func settled(t *testing.T, q *queue.Queue) {
	t.Helper()
	cons, err := q.Consumer(context.Background(), queue.ConsumerName(broadcast.StageInstall, "b1"))
	require.NoError(t, err)
	testenv.Eventually(t, 20*time.Second, func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "every job acked or terminated")
}

// A job whose handler panics is dead-lettered with the panic and its
// stack, and the worker goes on with the other jobs; a dead letter that
// cannot be recorded brings the job back to be dead-lettered again.
func TestPanickingJobIsDeadLettered(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx := context.Background()
	poison := job(1).UserID
	var c calls
	h := func(ctx context.Context, m jetstream.Msg) error {
		c.add(m)
		if j, _ := broadcast.DecodeJob(m.Data()); j.UserID == poison {
			var nilMap map[string]int
			nilMap["boom"]++ // a bug met by this job only
		}
		return nil
	}
	dl := &deadLetters{fail: 1}
	runScheduler(t, q, h, dl.record, 5)
	for i := range 3 {
		require.NoError(t, q.Publish(ctx, broadcast.StageInstall, job(i)))
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return len(dl.of(poison)) == 2 }, "dead-lettered, the second time recorded")
	settled(t, q)

	require.Equal(t, 2, c.of(poison), "run again only because its first dead letter failed")
	var p *queue.PanicError
	require.ErrorAs(t, dl.of(poison)[1], &p)
	require.Contains(t, p.Error(), "assignment to entry in nil map")
	require.Contains(t, string(p.Stack), "TestPanickingJobIsDeadLettered", "the stack of the panic")

	// The worker lives on.
	require.NoError(t, q.Publish(ctx, broadcast.StageInstall, job(3)))
	testenv.Eventually(t, 20*time.Second, func() bool { return c.of(job(3).UserID) == 1 }, "a job after the panic is handled")
	settled(t, q)
	for _, i := range []int{0, 2, 3} {
		require.Equal(t, 1, c.of(job(i).UserID))
		require.Empty(t, dl.of(job(i).UserID))
	}
}

// A job that keeps failing is dead-lettered at its MaxFailures-th failure,
// with its last error, and not delivered again.
func TestFailingJobIsDeadLetteredAfterMaxFailures(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	var c calls
	h := func(ctx context.Context, m jetstream.Msg) error {
		c.add(m)
		return errors.New("boom")
	}
	dl := &deadLetters{}
	runScheduler(t, q, h, dl.record, 2)
	require.NoError(t, q.Publish(context.Background(), broadcast.StageInstall, job(0)))
	user := job(0).UserID
	testenv.Eventually(t, 30*time.Second, func() bool { return len(dl.of(user)) == 1 }, "dead-lettered")
	settled(t, q)
	require.Equal(t, 2, c.of(user), "failed twice, then no more deliveries")
	require.ErrorContains(t, dl.of(user)[0], "failed 2 times, the last: boom")
}

// Retry is a wait, not a failure: a job put back many more times than
// MaxFailures, failing once among them, is never dead-lettered.
func TestRetriesAreNotFailures(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	var c calls
	h := func(ctx context.Context, m jetstream.Msg) error {
		switch n := c.add(m); {
		case n == 5:
			return errors.New("one failure")
		case n < 12:
			return queue.Retry(time.Millisecond, errors.New("tenant busy"))
		}
		return nil
	}
	dl := &deadLetters{}
	runScheduler(t, q, h, dl.record, 2)
	require.NoError(t, q.Publish(context.Background(), broadcast.StageInstall, job(0)))
	user := job(0).UserID
	testenv.Eventually(t, 30*time.Second, func() bool { return c.of(user) == 12 }, "handled after its waits")
	settled(t, q)
	require.Empty(t, dl.of(user))
}
