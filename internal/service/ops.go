package service

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/metrics"
)

// The ops listener serves, on METRICS_ADDR:
//
//	GET /metrics  Prometheus's text format: internal/metrics, the Go
//	              runtime, the process, and the queue's depth read on scrape
//	GET /healthz  200 while the process runs (liveness)
//	GET /readyz   200 when JetStream answers an account info request and
//	              Redis a PING, each within readyTimeout, else 503 naming
//	              what is down (readiness)
//
// Nothing on it is secret: no URL, no configuration, no error text.

// readyTimeout bounds each request of a readiness check.
const readyTimeout = time.Second

// opsShutdown bounds the ops listener's shutdown.
const opsShutdown = 2 * time.Second

// Pinger is the part of a Redis client a readiness check uses.
type Pinger interface {
	Ping(ctx context.Context) *redis.StatusCmd
}

// OpsHandler serves /metrics, /healthz and /readyz for a process connected
// to nc and rdb; q, if not nil, adds the queue's depth to the metrics.
func OpsHandler(nc *nats.Conn, rdb Pinger, q *metrics.QueueCollector) http.Handler {
	var js jetstream.JetStream
	if nc != nil {
		js, _ = jetstream.New(nc) // fails only without a connection
	}
	var extra []prometheus.Gatherer
	if q != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(q)
		extra = append(extra, reg)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(extra...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, readiness{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := ready(r.Context(), nc, js, rdb)
		code := http.StatusOK
		if len(rd.Down) > 0 {
			code = http.StatusServiceUnavailable
		}
		writeStatus(w, code, rd)
	})
	return mux
}

// readiness is the body of /healthz and /readyz.
type readiness struct {
	Status string            `json:"status"`           // ok, or unavailable
	Checks map[string]string `json:"checks,omitempty"` // dependency -> ok or down
	Down   []string          `json:"down,omitempty"`   // the dependencies down
}

// ready asks NATS and Redis at once. A connection that says it is
// connected is not enough: a stalled server (stopped, or cut off by the
// network) keeps it connected for minutes while nothing is answered, so
// JetStream itself is asked.
func ready(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, rdb Pinger) readiness {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var natsUp, redisUp bool
	var wg sync.WaitGroup
	wg.Go(func() {
		if nc == nil || js == nil || nc.Status() != nats.CONNECTED {
			return
		}
		_, err := js.AccountInfo(ctx)
		natsUp = err == nil
	})
	wg.Go(func() { redisUp = rdb != nil && rdb.Ping(ctx).Err() == nil })
	wg.Wait()

	rd := readiness{Status: "ok", Checks: map[string]string{"nats": "ok", "redis": "ok"}}
	for name, up := range map[string]bool{"nats": natsUp, "redis": redisUp} {
		if !up {
			rd.Status, rd.Checks[name] = "unavailable", "down"
			rd.Down = append(rd.Down, name)
		}
	}
	slices.Sort(rd.Down)
	return rd
}

func writeStatus(w http.ResponseWriter, code int, v readiness) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveOps listens on addr and serves h until the returned func is called,
// which shuts the listener down within opsShutdown. A port that cannot be
// bound is an error: another process holds it.
func serveOps(addr string, h http.Handler, log *zap.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The bound address: METRICS_ADDR=127.0.0.1:0 takes a free port.
		log.Info("ops listening: /metrics, /healthz, /readyz", zap.String("addr", ln.Addr().String()))
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("ops listener", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), opsShutdown)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
