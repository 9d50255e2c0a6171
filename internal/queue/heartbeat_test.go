package queue_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// takeoverDeadline bounds the wait for a dead worker's job in tests: well
// above AckWait on a loaded machine, far below the 60 s AckWait of old.
const takeoverDeadline = 30 * time.Second

// worker is a scheduler with a NATS connection of its own, as a process.
type worker struct {
	nc   *nats.Conn
	stop func()
}

func startWorker(t *testing.T, ns string, stage broadcast.Stage, h queue.Handler) *worker {
	t.Helper()
	nc, js, err := queue.Connect(context.Background(), testenv.NATS(t), t.Name(), testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	q := queue.New(js, ns)
	s := queue.NewScheduler(queue.SchedulerConfig{Stage: stage, Concurrency: 2, Refresh: 50 * time.Millisecond, Grace: time.Second},
		q, running{}, h, testenv.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	return &worker{nc: nc, stop: func() { cancel(); <-done }}
}

type delivery struct {
	worker int
	n      uint64 // the server's delivery count
}

// A job held past AckWait by a live worker is not redelivered: its
// heartbeat keeps it (and renews what the handler registered). Once the
// worker dies holding it (its connection gone: no heartbeat, no ack), the
// job is redelivered to the other worker within seconds. Both stages that
// do work with side effects, the installer's and the sender's.
func TestHeartbeatKeepsLiveWorkAndReleasesDeadWorkers(t *testing.T) {
	t.Parallel()
	for _, stage := range queue.Stages {
		t.Run(string(stage), func(t *testing.T) {
			t.Parallel()
			ns := "q" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
			nc, js, err := queue.Connect(context.Background(), testenv.NATS(t), t.Name(), testenv.Logger(t))
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			q := queue.New(js, ns)
			require.NoError(t, q.Setup(context.Background()))
			t.Cleanup(func() { _ = q.Delete(context.Background()) })
			require.NoError(t, q.EnsureConsumers(context.Background(), tenant, "b1", broadcast.PriorityNormal))
			require.NoError(t, q.Publish(context.Background(), stage, job(1)))

			got := make(chan delivery, 4)
			release := make(chan struct{}) // the dead worker's handler, stuck until the test ends
			var renewed, lostCalls atomic.Int32
			h := func(w int) queue.Handler {
				return func(ctx context.Context, m jetstream.Msg) error {
					md, err := m.Metadata()
					if err != nil {
						return err
					}
					got <- delivery{worker: w, n: md.NumDelivered}
					if md.NumDelivered > 1 {
						return nil
					}
					queue.OnHeartbeat(ctx, func(context.Context) error { renewed.Add(1); return nil })
					queue.OnHeartbeat(ctx, func(context.Context) error { lostCalls.Add(1); return queue.ErrLost })
					<-release
					return nil
				}
			}
			workers := []*worker{startWorker(t, ns, stage, h(0)), startWorker(t, ns, stage, h(1))}
			defer func() {
				close(release)
				for _, w := range workers {
					w.stop()
				}
			}()

			var first delivery
			select {
			case first = <-got:
			case <-time.After(takeoverDeadline):
				t.Fatal("the job was never delivered")
			}
			require.EqualValues(t, 1, first.n)

			// Held by a live worker for two AckWaits: without its heartbeat
			// the server would have redelivered it by now.
			select {
			case d := <-got:
				t.Fatalf("redelivered under a live worker: %+v", d)
			case <-time.After(2 * queue.AckWait):
			}
			require.GreaterOrEqual(t, renewed.Load(), int32(2), "renewals run at each heartbeat")
			require.EqualValues(t, 1, lostCalls.Load(), "a renewal that lost its work is not called again")

			// kill -9: the holder's connection is gone, its handler never returns in time.
			workers[first.worker].nc.Close()
			select {
			case d := <-got:
				require.Equal(t, 1-first.worker, d.worker, "taken over by the live worker")
				require.EqualValues(t, 2, d.n)
			case <-time.After(takeoverDeadline):
				t.Fatalf("the dead worker's job was not taken over within %s (not the 60 s AckWait of old)", takeoverDeadline)
			}
			cons, err := q.Consumer(context.Background(), queue.ConsumerName(stage, "b1"))
			require.NoError(t, err)
			testenv.Eventually(t, 10*time.Second, func() bool {
				info, err := cons.Info(context.Background())
				return err == nil && info.NumAckPending == 0 && info.NumPending == 0
			}, "the job taken over is acked")
		})
	}
}
