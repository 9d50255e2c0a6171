package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

const (
	botAppID    = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	botPassword = "test-secret-0123456789"
	teamsAppID  = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
)

// bundle is what an expansion test needs: real Redis and NATS, a JetStream
// namespace of its own, and the simulator serving the tenant's users. No
// worker consumes the stream, so its messages are exactly what was published.
type bundle struct {
	t      testing.TB
	tenant string
	sim    *teamsim.Sim
	st     *store.Store
	q      *queue.Queue
	nc     *nats.Conn
	js     jetstream.JetStream
	graphs *graph.Tenants
	log    *zap.Logger
}

func setup(t testing.TB, users int, log *zap.Logger) *bundle {
	t.Helper()
	return setupSim(t, teamsim.Config{UsersPerTenant: users, Seed: 1}, log)
}

// setupSim is setup with the simulator's population as cfg says.
func setupSim(t testing.TB, cfg teamsim.Config, log *zap.Logger) *bundle {
	t.Helper()
	tenant := testenv.FreeTenant(t)
	cfg.Tenants, cfg.BotAppID, cfg.BotAppPassword, cfg.TeamsAppID = []string{tenant}, botAppID, botPassword, teamsAppID
	sim, err := teamsim.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)

	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })

	nc, js, err := queue.Connect(context.Background(), testenv.NATS(t), t.Name(), log)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	q := queue.New(js, "t"+strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
	require.NoError(t, q.Setup(context.Background()))
	t.Cleanup(func() { _ = q.Delete(context.Background()) })

	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: srv.URL + "/login", GraphURL: srv.URL + "/graph/v1.0",
		ClientID: botAppID, ClientSecret: botPassword, RPS: 1000, HTTP: &http.Client{Timeout: 10 * time.Second}, Logger: log})
	return &bundle{t: t, tenant: tenant, sim: sim, st: store.New(rdb), q: q, nc: nc, js: js, graphs: graphs, log: log}
}

// members counts the simulator's users an all-users broadcast reaches.
func (b *bundle) members() int64 {
	var n int64
	for _, u := range b.sim.Users(b.tenant) {
		if u.UserType != "Guest" {
			n++
		}
	}
	return n
}

func (b *bundle) dispatcher(users func(tenant string) (dispatch.Users, error)) *dispatch.Dispatcher {
	if users == nil {
		users = func(tenant string) (dispatch.Users, error) { return b.graphs.For(tenant) }
	}
	return dispatch.New(dispatch.Config{Tenants: []string{b.tenant}, ResumeEvery: 50 * time.Millisecond}, b.st, b.q, users, b.log)
}

// running is a Dispatcher's Run in the background.
type running struct {
	d      *dispatch.Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *bundle) run(d *dispatch.Dispatcher) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); _ = d.Run(ctx) }()
	b.t.Cleanup(r.stop)
	return r
}

// stop cancels Run and waits for it and its expansions, as a shutdown does.
func (r *running) stop() {
	r.cancel()
	<-r.done
}

// create starts an all-users broadcast. Run must be running for the
// expansion to start at once; else the next Run resumes it.
func (b *bundle) create(d *dispatch.Dispatcher) string {
	b.t.Helper()
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "expansion test"}, Audience: broadcast.Audience{AllUsers: true}}
	require.NoError(b.t, req.Normalize())
	bc, err := d.Create(context.Background(), &req)
	require.NoError(b.t, err)
	return bc.ID
}

// expanded reports whether the broadcast's expansion has finished.
func (b *bundle) expanded(id string) bool {
	ids, err := b.st.Expanding(context.Background())
	require.NoError(b.t, err)
	for _, x := range ids {
		if x == id {
			return false
		}
	}
	return true
}

// jobs counts the broadcast's messages in the stream by stage.
func (b *bundle) jobs(id string) (install, send uint64) {
	b.t.Helper()
	s, err := b.js.Stream(context.Background(), b.q.Stream())
	require.NoError(b.t, err)
	count := func(stage broadcast.Stage) uint64 {
		subj := b.q.Subject(stage, broadcast.Job{TenantID: b.tenant, BroadcastID: id})
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subj))
		require.NoError(b.t, err)
		return info.State.Subjects[subj]
	}
	return count(broadcast.StageInstall), count(broadcast.StageSend)
}

// setMeta writes fields of the broadcast's record by hand, past the
// store's checks, as a bug or an operator could.
func (b *bundle) setMeta(id string, fieldsAndValues ...any) {
	b.t.Helper()
	require.NoError(b.t, b.st.Client().HSet(context.Background(), "{b:"+id+"}:meta", fieldsAndValues...).Err())
}

// forget deletes the broadcast's keys, so that a large run leaves Redis as
// it found it.
func (b *bundle) forget(id string) {
	ctx := context.Background()
	rdb := b.st.Client()
	keys, err := rdb.Keys(ctx, "{b:"+id+"}*").Result()
	if err == nil && len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
	_ = rdb.ZRem(ctx, "broadcasts", id).Err()
	_ = rdb.ZRem(ctx, "broadcasts:expanding", id).Err()
}

// heapPeak samples the heap until stopped and reports the largest values
// seen above those at its start: the heap allocated (live and garbage not
// yet collected: what the process's memory follows) and the live heap as
// of the last collection (what the program holds).
type heapPeak struct {
	base, peak         uint64
	liveBase, livePeak uint64
	stop               chan struct{}
	wg                 sync.WaitGroup
}

func startHeapPeak(every time.Duration) *heapPeak {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	h := &heapPeak{base: ms.HeapAlloc, peak: ms.HeapAlloc, liveBase: live[0].Value.Uint64(), stop: make(chan struct{})}
	h.livePeak = h.liveBase
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				metrics.Read(live)
				h.peak = max(h.peak, ms.HeapAlloc)
				h.livePeak = max(h.livePeak, live[0].Value.Uint64())
			}
		}
	}()
	return h
}

// growth stops sampling and returns the peak growth of the heap allocated
// and of the live heap, in bytes.
func (h *heapPeak) growth() (alloc, live uint64) {
	close(h.stop)
	h.wg.Wait()
	return h.peak - h.base, h.livePeak - h.liveBase
}
