package service

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// deps are a NATS server and a Redis of the test's own, which it can stop.
type deps struct {
	natsURL, redisURL   string
	stopNATS, stopRedis func()
	nc                  *nats.Conn
	rdb                 Pinger
	ops                 *httptest.Server
}

func startDeps(t *testing.T) *deps {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &deps{}
	var err error
	d.natsURL, d.stopNATS, err = devenv.StartNATS(ctx, devenv.NATSOptions{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(d.stopNATS)
	d.redisURL, d.stopRedis, err = devenv.StartRedis(ctx, devenv.RedisOptions{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(d.stopRedis)

	nc, js, err := queue.Connect(ctx, d.natsURL, t.Name(), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	d.nc = nc
	rdb, err := store.Connect(ctx, d.redisURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	d.rdb = rdb
	q := queue.New(js, "")
	require.NoError(t, q.Setup(ctx))
	d.ops = httptest.NewServer(OpsHandler(nc, rdb, metrics.NewQueueCollector(q, time.Second, time.Millisecond)))
	t.Cleanup(d.ops.Close)
	return d
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func readyz(t *testing.T, d *deps) (int, readiness) {
	t.Helper()
	return readyzAt(t, d.ops.URL)
}

func readyzAt(t *testing.T, base string) (int, readiness) {
	t.Helper()
	code, body := get(t, base+"/readyz")
	var rd readiness
	require.NoError(t, json.Unmarshal([]byte(body), &rd), body)
	// Nothing secret or internal: no address, no error text.
	require.NotContains(t, body, "127.0.0.1")
	require.NotContains(t, body, "redis://")
	require.NotContains(t, body, "nats://")
	return code, rd
}

func TestReadyWhenNATSAndRedisAreUp(t *testing.T) {
	d := startDeps(t)
	code, rd := readyz(t, d)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, readiness{Status: "ok", Checks: map[string]string{"nats": "ok", "redis": "ok"}}, rd)

	code, body := get(t, d.ops.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, body)

	code, body = get(t, d.ops.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"broadcast_queue_up 1", "broadcast_queue_messages 0", "go_goroutines ", "broadcast_expansions_running 0"} {
		require.Contains(t, body, want)
	}
}

func TestNotReadyNamesRedisWhenRedisIsDown(t *testing.T) {
	d := startDeps(t)
	code, _ := readyz(t, d)
	require.Equal(t, http.StatusOK, code)

	d.stopRedis()
	code, rd := readyz(t, d)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, readiness{Status: "unavailable", Checks: map[string]string{"nats": "ok", "redis": "down"}, Down: []string{"redis"}}, rd)

	// Liveness does not depend on it: the process is still alive.
	code, _ = get(t, d.ops.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
}

func TestNotReadyNamesNATSWhenNATSIsDown(t *testing.T) {
	d := startDeps(t)
	code, _ := readyz(t, d)
	require.Equal(t, http.StatusOK, code)

	d.stopNATS()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.nc.Status() != nats.CONNECTED }, "the client sees NATS gone")
	code, rd := readyz(t, d)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, readiness{Status: "unavailable", Checks: map[string]string{"nats": "down", "redis": "ok"}, Down: []string{"nats"}}, rd)

	// The queue's figures cannot be read: the scrape says so and still
	// answers, with everything else.
	code, body := get(t, d.ops.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "broadcast_queue_up 0")
	require.Contains(t, body, "go_goroutines ")

	// A closed connection (the process shutting down) is not ready either.
	d.nc.Close()
	code, rd = readyz(t, d)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, []string{"nats"}, rd.Down)
}

// A NATS server that stops answering (stopped with SIGSTOP, cut off by
// the network) leaves the client's connection CONNECTED for minutes:
// readiness asks JetStream itself, and says NATS is down.
func TestNotReadyNamesNATSWhenItStalls(t *testing.T) {
	d := startDeps(t)
	proxy, err := devenv.NewFreezeProxy(strings.TrimPrefix(d.natsURL, "nats://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	nc, _, err := queue.Connect(context.Background(), "nats://"+proxy.Addr(), t.Name(), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ops := httptest.NewServer(OpsHandler(nc, d.rdb, nil))
	t.Cleanup(ops.Close)
	code, _ := readyzAt(t, ops.URL)
	require.Equal(t, http.StatusOK, code)

	proxy.Freeze()
	code, rd := readyzAt(t, ops.URL)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, readiness{Status: "unavailable", Checks: map[string]string{"nats": "down", "redis": "ok"}, Down: []string{"nats"}}, rd)
	require.Equal(t, nats.CONNECTED, nc.Status(), "the connection does not know")

	proxy.Thaw()
	testenv.Eventually(t, 10*time.Second, func() bool { code, _ := readyzAt(t, ops.URL); return code == http.StatusOK }, "ready again")
}

func TestServeOpsBindsAFreePortAndStops(t *testing.T) {
	d := startDeps(t)
	stop, err := serveOps("127.0.0.1:0", http.NotFoundHandler(), zap.NewNop())
	require.NoError(t, err)
	stop()
	// A port another process holds is refused at once, not later.
	addr := strings.TrimPrefix(d.ops.URL, "http://")
	_, err = serveOps(addr, http.NotFoundHandler(), zap.NewNop())
	require.Error(t, err)
}
