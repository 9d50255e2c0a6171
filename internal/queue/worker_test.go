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
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), q.Stream()) })
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

func TestWorkerFates(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	cons, err := q.Consumer(ctx, queue.ConsumerInstaller)
	require.NoError(t, err)
	w := &queue.Worker{Consumer: cons, Handler: h, Concurrency: 2, Grace: time.Second, Log: testenv.Logger(t)}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()

	testenv.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[job(2).UserID] == 2 && seen[job(3).UserID] == 2
	}, "retried jobs come back")
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, seen[job(0).UserID], "acked once")
	require.Equal(t, 1, seen[job(1).UserID], "terminated, never redelivered")
	info, err := cons.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.NumPending)
	require.Zero(t, info.NumAckPending)
}

// On shutdown, in-flight work finishes and buffered messages are handed back
// at once rather than after AckWait.
func TestWorkerShutdownReleasesWork(t *testing.T) {
	t.Parallel()
	q, _ := newQueue(t)
	ctx, cancel := context.WithCancel(context.Background())
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
	cons, err := q.Consumer(context.Background(), queue.ConsumerInstaller)
	require.NoError(t, err)
	w := &queue.Worker{Consumer: cons, Handler: h, Concurrency: 2, Grace: 5 * time.Second, Log: testenv.Logger(t)}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	<-started
	cancel()
	<-done
	require.Equal(t, handled.Load(), finished.Load(), "work in flight finished")

	// Whatever the worker held but did not start is available again now.
	rest := 20 - int(finished.Load())
	batch, err := cons.Fetch(rest, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		n++
		require.NoError(t, m.Ack())
	}
	require.Equal(t, rest, n)
}

func TestBackoffIsBoundedWithJitter(t *testing.T) {
	t.Parallel()
	for n := 1; n < 20; n++ {
		d := queue.Backoff(n, time.Second, time.Minute)
		require.GreaterOrEqual(t, d, time.Second/2)
		require.LessOrEqual(t, d, time.Minute)
	}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[queue.Backoff(3, time.Second, time.Minute)] = true
	}
	require.Greater(t, len(seen), 1, "jittered")
}
