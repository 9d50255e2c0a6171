// Package service is the start-up and shutdown every binary shares: read the
// configuration, build the logger, connect to Redis and NATS, make sure the
// stream exists, serve the ops listener (metrics and health, ops.go), run
// until SIGINT or SIGTERM, and exit once with a status (0 clean, 1 failed,
// 2 misconfigured).
package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Config is a binary's configuration.
type Config interface {
	Shared() config.Common
	Fields() []zap.Field // for the start-up line, secrets masked
}

// Env is what every binary runs on.
type Env struct {
	Log   *zap.Logger
	Store *store.Store
	Queue *queue.Queue

	rdb redis.UniversalClient
	nc  *nats.Conn
}

// Main loads the configuration with load, connects, and calls run with a
// context that ends on SIGINT or SIGTERM. run returns when it has drained.
func Main[C Config](name string, load func(getenv func(string) string) (C, error), run func(ctx context.Context, env *Env, cfg C) error) int {
	cfg, err := load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: configuration:\n%v\n", name, err)
		return 2
	}
	c := cfg.Shared()
	log, err := logging.New(name, c.LogLevel, c.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	log.Info("starting", cfg.Fields()...)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			// From the first signal on, a second one stops the process at
			// once (the default action) rather than waiting for the drain.
			signal.Stop(sigs)
			log.Info("shutting down: finishing the work in hand (a second signal stops at once)", zap.String("signal", sig.String()))
			stop()
		case <-ctx.Done():
		}
	}()
	env, err := connect(ctx, name, c, log)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while starting: nothing was in hand.
			log.Info("stopped while starting", zap.Error(err))
			return 0
		}
		log.Error("start", zap.Error(err))
		return 1
	}
	defer env.close()
	if c.MetricsAddr != "" {
		stopOps, err := serveOps(c.MetricsAddr, OpsHandler(env.nc, env.rdb, metrics.NewQueueCollector(env.Queue, 0, 0)), log)
		if err != nil {
			log.Error("start the ops listener (METRICS_ADDR)", zap.Error(err))
			return 1
		}
		defer stopOps()
	}
	if c.PprofAddr != "" {
		stopPprof := servePprof(c.PprofAddr, log)
		defer stopPprof()
	}
	if err := run(ctx, env, cfg); err != nil {
		log.Error("stopped on error", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

func connect(ctx context.Context, name string, c config.Common, log *zap.Logger) (*Env, error) {
	redisTLS, err := c.RedisTLS.Load()
	if err != nil {
		return nil, fmt.Errorf("REDIS_TLS_*_FILE: %w", err)
	}
	rdb, err := store.Connect(ctx, c.RedisURL, store.WithTLS(redisTLS))
	if err != nil {
		return nil, err
	}
	natsOpts, err := natsSecurity(c)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	nc, js, err := queue.Connect(ctx, c.NATSURL, name, log, natsOpts...)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	q := queue.New(js, "")
	q.FailedRetention = c.FailedRetention
	q.Replicas = c.StreamReplicas
	if err := q.Setup(ctx); err != nil {
		nc.Close()
		_ = rdb.Close()
		return nil, err
	}
	return &Env{Log: log, Store: store.New(rdb), Queue: q, rdb: rdb, nc: nc}, nil
}

// natsSecurity is the TLS and the credentials of the NATS connection.
func natsSecurity(c config.Common) ([]nats.Option, error) {
	var opts []nats.Option
	tc, err := c.NATSTLS.Load()
	if err != nil {
		return nil, fmt.Errorf("NATS_TLS_*_FILE: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	if c.NATSCredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCredsFile))
	}
	return opts, nil
}

// drainTimeout bounds the flush of the NATS connection at exit.
const drainTimeout = 5 * time.Second

func (e *Env) close() {
	// Drain flushes the acks and publishes still buffered in the
	// connection, then closes it. It does so in the background: wait for
	// it, or the process may exit before its last acks reach the server
	// (their jobs would come back after AckWait).
	closed := make(chan struct{})
	e.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := e.nc.Drain(); err != nil {
		e.nc.Close()
	} else {
		select {
		case <-closed:
		case <-time.After(drainTimeout):
			e.Log.Warn("NATS connection not drained in time: closing it", zap.Duration("timeout", drainTimeout))
			e.nc.Close()
		}
	}
	_ = e.rdb.Close()
}

// Schedule runs a scheduler of the jobs at cfg.Stage until ctx ends, then
// drains it within cfg.Grace.
func (e *Env) Schedule(ctx context.Context, cfg queue.SchedulerConfig, h queue.Handler) error {
	s := queue.NewScheduler(cfg, e.Queue, e.Store, h, e.Log.Named("scheduler"))
	e.Log.Info("working", zap.String("stage", string(cfg.Stage)), zap.Int("concurrency_per_tenant", cfg.Concurrency))
	return s.Run(ctx)
}

// servePprof serves the runtime profiles on addr until the returned func is
// called: `go tool pprof http://ADDR/debug/pprof/profile?seconds=30`.
func servePprof(addr string, log *zap.Logger) func() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		log.Info("pprof listening", zap.String("addr", addr))
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
