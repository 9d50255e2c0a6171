// Package pipelinetest assembles the whole pipeline in one process for
// tests: real NATS JetStream and real Redis (from testenv), the Teams/Graph
// simulator on an httptest server, and the dispatcher, installer and sender
// as they run in their binaries, wired to the simulator's URLs.
package pipelinetest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/install"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// Credentials the simulator is configured with.
const (
	BotAppID    = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	BotPassword = "test-secret-0123456789"
	TeamsAppID  = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
)

// TestRetryAfterTolerance is the simulator's RetryAfterTolerance in the
// pipeline tests unless Options.Sim sets one.
const TestRetryAfterTolerance = 500 * time.Millisecond

// Options tune an Env. Zero values take test-friendly defaults.
type Options struct {
	Sim                 teamsim.Config // Tenants, credentials and Logger are filled in
	TenantRPS, GraphRPS float64        // default 1000: the simulator's limits decide
	SendConcurrency     int
	// Senders is the number of sender "processes": each has its own gates
	// and worker on the shared consumer, as separate binaries would. Default 1.
	Senders            int
	InstallConcurrency int
	MaxRetries         int // default 3
	MaxThrottles       int // default the sender's
	RetryBase          time.Duration
	// Tenants is the number of tenants served (default 1); Env.Tenant is the
	// first, Env.Tenants all of them.
	Tenants int
	// NoWorkers leaves the installer and sender workers stopped, for tests
	// that drive the handlers themselves.
	NoWorkers bool
	// GraphOnly gives the installer no Connector route: conversations are
	// found through Graph alone.
	GraphOnly bool
	// NoSenders runs the installer only: the test starts its senders
	// (StartSender).
	NoSenders bool
	// LogCore, if set, also receives everything logged (a zap observer, for
	// tests that check what was reported).
	LogCore zapcore.Core
	// BotEndpoint runs the bot's messaging endpoint (authenticating with
	// the simulator's keys), points the simulator at it, and lets the
	// installer take the conversations it caches (waiting up to 2 s).
	BotEndpoint bool
	// RedisURL and NATSURL name servers of the test's own, which it may
	// stop or freeze; default testenv's shared ones. RedisHook, if set,
	// sees every command of the pipeline's Redis client.
	RedisURL, NATSURL string
	RedisHook         redis.Hook
	// NATSReplicas is the streams' replicas (default 1), for a NATSURL
	// that names a cluster.
	NATSReplicas int
	// Fence is the store's (default store.DefaultFence); IdempotencyGrace
	// and PublishBudget the dispatcher's (default its own).
	Fence            store.Fence
	IdempotencyGrace time.Duration
	PublishBudget    time.Duration
	// Approval is the dispatcher's approval rule (default: none held back);
	// Keys are keys the API accepts beside AdminKey's.
	Approval dispatch.Approval
	Keys     []auth.Key
	// Now is the dispatchers' clock (default time.Now): a test moves it
	// to make a create's reminders due. TimeZone is their tenant zone for
	// localTime broadcasts (default Etc/UTC).
	Now      func() time.Time
	TimeZone string
}

// Env is a running pipeline.
type Env struct {
	T          testing.TB
	Tenant     string
	Tenants    []string
	Store      *store.Store
	Queue      *queue.Queue
	JS         jetstream.JetStream
	NATS       *nats.Conn // the workers' connection, for health checks
	Sim        *teamsim.Sim
	SimURL     string
	Connector  *teams.Client
	Graphs     *graph.Tenants
	Dispatcher *dispatch.Dispatcher
	Sender     *send.Sender
	Changer    *send.Changer // the edits and recalls of the first sender "process"
	Installer  *install.Installer
	// Server is the dispatcher's API; API is Server called as the admin
	// AdminKey names, unless a request carries its own Authorization.
	Server   *api.Server
	API      http.Handler
	AdminKey string
	Log      *zap.Logger
	// BotURL is the messaging endpoint's base URL (Options.BotEndpoint).
	BotURL string

	ctx    context.Context
	cancel context.CancelFunc
	opts   Options
	ns     string // the queue's namespace
	// redisURL and natsURL are the servers the pipeline uses.
	redisURL, natsURL string
	wg                sync.WaitGroup
	disp              *runningDispatcher
	// adminKeys holds AdminKey's hash: a restarted dispatcher keeps it.
	adminKeys []auth.Key
}

// Start builds and runs a pipeline that stops when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	log := testenv.Logger(t)
	if o.LogCore != nil {
		log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, o.LogCore) }))
	}
	tenant := testenv.FreeTenant(t)
	tenants := []string{tenant}
	for i := 1; i < o.Tenants; i++ {
		tenants = append(tenants, testenv.FreeTenant(t))
	}
	if o.TenantRPS == 0 {
		o.TenantRPS = 1000
	}
	if o.GraphRPS == 0 {
		o.GraphRPS = 1000
	}
	if o.SendConcurrency == 0 {
		o.SendConcurrency = 16
	}
	if o.InstallConcurrency == 0 {
		o.InstallConcurrency = 8
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.RetryBase == 0 {
		o.RetryBase = 20 * time.Millisecond
	}
	simCfg := o.Sim
	if simCfg.RetryAfterTolerance == 0 {
		// The tests run under -race beside other packages on a small
		// machine, where a few ms (and under a full suite, at times more
		// than 100 ms) are the scheduler's: the tests count a request
		// half a second after a 429 left, the simulator's earlier rule.
		// The strict rule (5 ms) is measured by the benchmarks.
		simCfg.RetryAfterTolerance = TestRetryAfterTolerance
	}
	simCfg.Tenants = tenants
	simCfg.BotAppID, simCfg.BotAppPassword, simCfg.TeamsAppID = BotAppID, BotPassword, TeamsAppID
	simCfg.Logger = log.Named("teamsim")

	redisURL, natsURL := o.RedisURL, o.NATSURL
	if redisURL == "" {
		redisURL = testenv.Redis(t)
	}
	if natsURL == "" {
		natsURL = testenv.NATS(t)
	}
	rdb, err := store.Connect(context.Background(), redisURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	if o.RedisHook != nil {
		rdb.AddHook(o.RedisHook)
	}
	st := store.New(rdb)
	if o.Fence != (store.Fence{}) {
		st = st.WithFence(o.Fence)
	}

	// The simulator's URL is known before it starts: the bot endpoint
	// fetches its keys there, and it posts to the bot endpoint.
	srv := httptest.NewUnstartedServer(nil)
	var botURL string
	if o.BotEndpoint {
		botURL = startBotEndpoint(t, "http://"+srv.Listener.Addr().String(), tenants, st, log)
		simCfg.BotEndpoint = botURL + bot.Path
	}
	sim, err := teamsim.New(simCfg)
	require.NoError(t, err)
	srv.Config.Handler = sim.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)

	nc, js, err := queue.Connect(context.Background(), natsURL, t.Name(), log)
	require.NoError(t, err)
	t.Cleanup(nc.Close) // after Stop, which the workers' cleanup below runs first
	ns := "t" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	q := queue.New(js, ns)
	q.Replicas = o.NATSReplicas
	require.NoError(t, q.Setup(context.Background()))
	t.Cleanup(func() { _ = q.Delete(context.Background()) })

	httpClient := &http.Client{Timeout: 5 * time.Second}
	connector, err := teams.NewBotClient(srv.URL+"/connector/", srv.URL+"/login", BotAppID, BotPassword, httpClient)
	require.NoError(t, err)
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: srv.URL + "/login", GraphURL: srv.URL + "/graph/v1.0",
		ClientID: BotAppID, ClientSecret: BotPassword, RPS: o.GraphRPS, HTTP: httpClient, Logger: log})

	e := &Env{T: t, Tenant: tenant, Tenants: tenants, Store: st, Queue: q, JS: js, NATS: nc, Sim: sim, SimURL: srv.URL, Connector: connector, Graphs: graphs, Log: log, BotURL: botURL, opts: o, ns: ns,
		redisURL: redisURL, natsURL: natsURL}
	scfg := send.Config{ProcessID: "test-" + uuid.NewString()[:8], MaxRetries: o.MaxRetries, MaxThrottles: o.MaxThrottles, CallTimeout: 5 * time.Second, RetryBase: o.RetryBase}
	gates := ratelimit.NewTenants(o.TenantRPS, st)
	e.Sender = send.New(scfg, st, q, connector, gates, log.Named("sender"))
	e.Changer = send.NewChanger(scfg, st, connector, gates, log.Named("sender"))
	icfg := install.Config{TeamsAppID: TeamsAppID, RetryBase: o.RetryBase, Connector: connector, Gates: ratelimit.NewTenants(o.TenantRPS, st, ratelimit.WithAhead(install.ConnectorAhead)),
		GraphRPS: o.GraphRPS, Concurrency: o.InstallConcurrency}
	if o.BotEndpoint {
		icfg.ConversationWait = 2 * time.Second
	}
	if o.GraphOnly {
		icfg.Connector, icfg.Gates = nil, nil
	}
	e.Installer = install.New(icfg, st, q,
		func(tenant string) (install.Graph, error) { return graphs.For(tenant) }, log.Named("installer"))
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.ctx = ctx
	t.Cleanup(e.Stop)
	e.StartDispatcher()
	if !o.NoWorkers {
		e.runScheduler(ctx, queue.SchedulerConfig{Stage: broadcast.StageInstall, Concurrency: o.InstallConcurrency, Limit: e.Installer.Limit,
			DeadLetter: e.Installer.DeadLetter}, e.Installer.Handle)
	}
	if !o.NoWorkers && !o.NoSenders {
		e.runSender(ctx, e.Sender, e.Changer, o)
		for i := 1; i < o.Senders; i++ {
			scfg := send.Config{ProcessID: fmt.Sprintf("test-%d-%s", i, uuid.NewString()[:8]), MaxRetries: o.MaxRetries, MaxThrottles: o.MaxThrottles, CallTimeout: 5 * time.Second, RetryBase: o.RetryBase}
			gates := ratelimit.NewTenants(o.TenantRPS, st)
			slog := log.Named(fmt.Sprintf("sender%d", i))
			e.runSender(ctx, send.New(scfg, st, q, connector, gates, slog), send.NewChanger(scfg, st, connector, gates, slog), o)
		}
	}
	return e
}

// startBotEndpoint serves the bot's messaging endpoint as the dispatcher
// does, trusting the simulator at simURL, and returns its base URL.
func startBotEndpoint(t testing.TB, simURL string, tenants []string, st *store.Store, log *zap.Logger) string {
	v, err := botauth.New(botauth.Config{OpenIDMetadataURL: simURL + teamsim.BotOpenIDMetadataPath,
		JWKSURL: simURL + teamsim.BotJWKSPath, AppID: BotAppID, Logger: log.Named("botauth")})
	require.NoError(t, err)
	hosts, err := botauth.ParseServiceHosts("127.0.0.1")
	require.NoError(t, err)
	srv := httptest.NewServer(bot.New(bot.Config{AppID: BotAppID, Tenants: tenants, Hosts: hosts}, v, st, log.Named("bot")))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (e *Env) run(f func()) {
	e.wg.Add(1)
	go func() { defer e.wg.Done(); f() }()
}

// runSender runs a sender "process": its schedulers over the broadcasts'
// send, edit and recall consumers.
func (e *Env) runSender(ctx context.Context, s *send.Sender, c *send.Changer, o Options) {
	e.runScheduler(ctx, queue.SchedulerConfig{Stage: broadcast.StageSend, Concurrency: o.SendConcurrency, Budgets: e.Store, RPS: o.TenantRPS,
		DeadLetter: s.DeadLetter}, s.Handle)
	for _, stage := range queue.ChangeStages {
		e.runScheduler(ctx, queue.SchedulerConfig{Stage: stage, Concurrency: o.SendConcurrency, Budgets: e.Store, RPS: o.TenantRPS,
			DeadLetter: c.DeadLetter}, c.Handle)
	}
}

// runScheduler runs a scheduler as the binaries do, listing the broadcasts
// more often so that tests wait less.
func (e *Env) runScheduler(ctx context.Context, cfg queue.SchedulerConfig, h queue.Handler) {
	cfg.Refresh, cfg.Grace = 100*time.Millisecond, 5*time.Second
	sched := queue.NewScheduler(cfg, e.Queue, e.Store, h, e.Log.Named(string(cfg.Stage)+".scheduler"))
	e.run(func() { _ = sched.Run(ctx) })
}

// Stop stops the dispatcher and the workers and waits for them.
func (e *Env) Stop() {
	e.cancel()
	e.wg.Wait()
}

// Create creates a broadcast through the dispatcher.
func (e *Env) Create(req broadcast.CreateRequest) *broadcast.Broadcast {
	e.T.Helper()
	require.NoError(e.T, req.Normalize())
	b, err := e.Dispatcher.Create(context.Background(), &req)
	require.NoError(e.T, err)
	return b
}

// WaitCompleted waits for a broadcast to complete and returns it.
func (e *Env) WaitCompleted(id string, within time.Duration) *broadcast.Broadcast {
	e.T.Helper()
	return e.WaitStatus(id, broadcast.StatusCompleted, within)
}

// WaitStatus waits for a broadcast to reach status and returns it.
func (e *Env) WaitStatus(id string, status broadcast.Status, within time.Duration) *broadcast.Broadcast {
	e.T.Helper()
	return e.WaitFor(id, within, string(status), func(b *broadcast.Broadcast) bool { return b.Status == status })
}

// WaitFor waits until ok holds for the broadcast, and returns it.
func (e *Env) WaitFor(id string, within time.Duration, what string, ok func(*broadcast.Broadcast) bool) *broadcast.Broadcast {
	e.T.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := e.Store.Broadcast(context.Background(), id)
		if err == nil && ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("broadcast %s: not %s within %s: %+v (err %v)", id, what, within, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Users returns the simulator's users of the tenant.
func (e *Env) Users() []teamsim.User { return e.Sim.Users(e.Tenant) }

// Next fetches the next message of a consumer, for tests that drive a
// handler themselves: a broadcast's queue.ConsumerName at a stage. The
// dispatcher creates the consumer when the expansion starts, just after
// the broadcast is created, so Next waits for it to exist.
func (e *Env) Next(name string) jetstream.Msg {
	e.T.Helper()
	var cons jetstream.Consumer
	testenv.Eventually(e.T, 10*time.Second, func() bool {
		var err error
		cons, err = e.Queue.Consumer(context.Background(), name)
		return err == nil
	}, "consumer %s exists", name)
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(e.T, err)
	return msg
}
