package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

const tenant = "11111111-2222-3333-4444-555555555555"

func newQueue(t *testing.T) (*queue.Queue, jetstream.JetStream) {
	t.Helper()
	nc, js, err := queue.Connect(context.Background(), testenv.NATS(t), t.Name(), testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	q := queue.New(js, "q"+strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	require.NoError(t, q.Setup(context.Background()))
	t.Cleanup(func() { _ = q.Delete(context.Background()) })
	return q, js
}

func job(i int) broadcast.Job {
	return broadcast.Job{BroadcastID: "b1", TenantID: tenant, UserID: uuid.NewSHA1(uuid.Nil, []byte{byte(i)}).String()}
}

func TestPublishDeduplicates(t *testing.T) {
	t.Parallel()
	q, js := newQueue(t)
	ctx := context.Background()
	var items []queue.Item
	for i := range 50 {
		items = append(items, queue.Item{Stage: broadcast.StageSend, Job: job(i)})
	}
	require.NoError(t, q.PublishBatch(ctx, items))
	require.NoError(t, q.PublishBatch(ctx, items), "a resumed page republishes")
	require.NoError(t, q.Publish(ctx, broadcast.StageSend, job(0)))
	require.NoError(t, q.Publish(ctx, broadcast.StageInstall, job(0)), "another stage is another job")
	s, err := js.Stream(ctx, q.Stream())
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 51, info.State.Msgs)
}

// running is no broadcast finished: the scheduler keeps every consumer.
// It counts no failures (every failed job is at its first).
type running struct{}

func (running) Finished(context.Context, string) (bool, error)         { return false, nil }
func (running) JobFailed(context.Context, string, string) (int, error) { return 1, nil }

func schedule(t *testing.T, q *queue.Queue, h queue.Handler, grace time.Duration) (stop func()) {
	t.Helper()
	require.NoError(t, q.EnsureConsumers(context.Background(), tenant, "b1", broadcast.PriorityNormal))
	s := queue.NewScheduler(queue.SchedulerConfig{Stage: broadcast.StageInstall, Concurrency: 2, Refresh: 50 * time.Millisecond, Grace: grace},
		q, running{}, h, testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// The handler's error is the job's fate: nil acks, Terminate drops, Retry
// and other errors redeliver (after the delay, or a backoff).
func TestSchedulerFates(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, q.Publish(ctx, broadcast.StageInstall, job(i)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	fate := map[string]error{
		job(0).UserID: nil,
		job(1).UserID: queue.Terminate(errors.New("poison")),
		job(2).UserID: queue.Retry(50*time.Millisecond, errors.New("later")), // then ok
		job(3).UserID: errors.New("transient"),                               // then ok, after a backoff
	}
	h := func(ctx context.Context, m jetstream.Msg) error {
		j, err := broadcast.DecodeJob(m.Data())
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		seen[j.UserID]++
		if seen[j.UserID] > 1 {
			return nil
		}
		return fate[j.UserID]
	}
	stop := schedule(t, q, h, time.Second)
	testenv.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[job(2).UserID] == 2 && seen[job(3).UserID] == 2
	}, "retried jobs come back")
	stop()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, seen[job(0).UserID], "acked once")
	require.Equal(t, 1, seen[job(1).UserID], "terminated, never redelivered")
	cons, err := q.Consumer(ctx, queue.ConsumerName(broadcast.StageInstall, "b1"))
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumPending)
	require.Zero(t, info.NumAckPending)
}

// On shutdown the jobs in hand finish, and the others were never taken:
// they are available at once rather than after AckWait.
func TestSchedulerShutdownFinishesWorkInHand(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	for i := range 20 {
		require.NoError(t, q.Publish(context.Background(), broadcast.StageInstall, job(i)))
	}
	var handled, finished atomic.Int32
	started := make(chan struct{}, 20)
	h := func(ctx context.Context, m jetstream.Msg) error {
		handled.Add(1)
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond) // work in flight when shutdown begins
		finished.Add(1)
		return nil
	}
	stop := schedule(t, q, h, 5*time.Second)
	<-started
	stop()
	require.Equal(t, handled.Load(), finished.Load(), "work in flight finished")

	rest := 20 - int(finished.Load())
	cons, err := q.Consumer(context.Background(), queue.ConsumerName(broadcast.StageInstall, "b1"))
	require.NoError(t, err)
	batch, err := cons.FetchNoWait(rest)
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		n++
		require.NoError(t, m.Ack())
	}
	require.Equal(t, rest, n)
}

// A finished broadcast's consumers are removed, at every stage.
func TestSchedulerRemovesFinishedBroadcasts(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx := context.Background()
	require.NoError(t, q.EnsureConsumers(ctx, tenant, "done", broadcast.PriorityNormal))
	runFinishedAll(t, q)
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, stage := range queue.Stages {
			cs, err := q.Consumers(ctx, stage)
			require.NoError(t, err)
			if len(cs) > 0 {
				return false
			}
		}
		return true
	}, "both consumers of the finished broadcast are gone")
}

type finishedAll struct{ running }

func (finishedAll) Finished(context.Context, string) (bool, error) { return true, nil }

// runFinishedAll runs a send scheduler to which every broadcast is
// finished, until the test ends.
func runFinishedAll(t *testing.T, q *queue.Queue) {
	s := queue.NewScheduler(queue.SchedulerConfig{Stage: broadcast.StageSend, Refresh: 20 * time.Millisecond},
		q, finishedAll{}, func(context.Context, jetstream.Msg) error { return nil }, testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
}

// A job published for a finished broadcast after its consumers are gone
// has nobody to take it: the scheduler puts the consumer back, the job is
// taken (and acked), and the idle consumer goes again.
func TestSchedulerTakesStrayJobsOfFinishedBroadcasts(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx := context.Background()
	job := broadcast.Job{BroadcastID: "done", TenantID: tenant, UserID: "u1"}
	require.NoError(t, q.Publish(ctx, broadcast.StageSend, job))
	n, err := q.Jobs(ctx, tenant, "done")
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	runFinishedAll(t, q)
	testenv.Eventually(t, 10*time.Second, func() bool {
		n, err := q.Jobs(ctx, tenant, "done")
		return err == nil && n == 0
	}, "the stray job is taken")
	testenv.Eventually(t, 10*time.Second, func() bool {
		cs, err := q.Consumers(ctx, broadcast.StageSend)
		if err != nil {
			return false
		}
		for _, c := range cs {
			if c.BroadcastID == "done" {
				return false
			}
		}
		return true
	}, "the consumer put back goes again once idle")
}
