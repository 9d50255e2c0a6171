package pipelinetest

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// SenderProcess is a sender "process" with NATS and Redis connections of
// its own, so that a test can kill it: Kill closes both at once, as a
// kill -9 would, and its jobs in hand get no heartbeat, ack or renewal any
// more.
type SenderProcess struct {
	// ProcessID is its send.Config.ProcessID: its claims' owners start with it.
	ProcessID string

	nc      *nats.Conn
	rdb     redis.UniversalClient
	cancel  context.CancelFunc
	done    chan struct{}
	handles sync.WaitGroup // its handlers, which may outlive its scheduler once killed
}

// StartSender starts a sender process of the send stage whose Connector
// calls go to c (nil: the simulator's), with concurrency jobs per tenant
// (0: Options.SendConcurrency). It stops when the test ends; a killed
// one's handlers must have returned by then (unblock them).
func (e *Env) StartSender(name string, c send.Connector, concurrency int) *SenderProcess {
	e.T.Helper()
	if c == nil {
		c = e.Connector
	}
	if concurrency <= 0 {
		concurrency = e.opts.SendConcurrency
	}
	log := e.Log.Named(name)
	nc, js, err := queue.Connect(context.Background(), e.natsURL, name, log)
	require.NoError(e.T, err)
	rdb, err := store.Connect(context.Background(), e.redisURL)
	if err != nil {
		nc.Close()
		require.NoError(e.T, err)
	}
	p := &SenderProcess{ProcessID: name + "-" + uuid.NewString()[:8], nc: nc, rdb: rdb, done: make(chan struct{})}
	st, q := store.New(rdb), queue.New(js, e.ns)
	cfg := send.Config{ProcessID: p.ProcessID, MaxRetries: e.opts.MaxRetries, MaxThrottles: e.opts.MaxThrottles,
		CallTimeout: 5 * time.Second, RetryBase: e.opts.RetryBase}
	s := send.New(cfg, st, q, c, ratelimit.NewTenants(e.opts.TenantRPS, st), log)
	h := func(ctx context.Context, m jetstream.Msg) error {
		p.handles.Add(1)
		defer p.handles.Done()
		return s.Handle(ctx, m)
	}
	sched := queue.NewScheduler(queue.SchedulerConfig{Stage: broadcast.StageSend, Concurrency: concurrency, Budgets: st, RPS: e.opts.TenantRPS,
		Refresh: 100 * time.Millisecond, Grace: 5 * time.Second, DeadLetter: s.DeadLetter}, q, st, h, log.Named("scheduler"))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); _ = sched.Run(ctx) }()
	e.T.Cleanup(func() {
		cancel()
		<-p.done
		p.handles.Wait()
		nc.Close()
		_ = rdb.Close()
	})
	return p
}

// Kill ends the process at once: its connections close, it fetches no more
// jobs, and the handlers it was running are abandoned (they find the
// connections closed when they go on).
func (p *SenderProcess) Kill() {
	p.nc.Close()
	_ = p.rdb.Close()
	p.cancel()
}
