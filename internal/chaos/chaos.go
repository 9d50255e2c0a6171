// Package chaos is the crash-and-fault suite: it runs the real binaries
// (dispatcher, installer, three senders) through internal/demo against a
// NATS and a Redis of its own and the Teams/Graph simulator, disturbs a
// broadcast to every user while it runs (kill -9 of services, NATS or
// Redis stopped and started again, storms of faults from the simulator,
// NATS and Redis frozen while API calls arrive: stall.go), and checks
// afterwards, recipient by recipient, against the simulator's ledger:
// every recipient final, every deliverable user delivered, no duplicate
// beyond those a death or a timeout explains, counters equal to the
// ledger, no Retry-After violation, and every API call's answer true.
//
// `make chaos` runs the long variants (cmd/chaos); the short ones run in
// `make test` (chaos_test.go).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// SendConcurrency is the senders' SEND_CONCURRENCY in the suite (the
// default): a killed sender has at most this many sends of the tenant in
// flight, so it can cause at most this many duplicates.
const SendConcurrency = 32

// Options configure one scenario run.
type Options struct {
	Users   int // simulated users of the one tenant (the audience: all of them)
	Senders int // sender processes; default 3
	RPS     int // the tenant's Connector limit; the senders pace at 95% of it
	// Disruptions is how many kills (Kill) or outages (NATS, Redis) or
	// throttling bursts (Storm) to cause; the scenario's default when 0.
	Disruptions int
	// Dispatchers and Installers are the processes of each; 0: the
	// scenario's (Scenario.dispatchers, installers).
	Dispatchers, Installers int
	BinDir                  string // the dispatcher, installer and sender binaries
	WorkDir                 string // logs and stores; a temporary directory when empty
	Timeout                 time.Duration
	Seed                    uint64 // the random moments and victims
	Out                     io.Writer
	Log                     *zap.Logger
}

func (o *Options) defaults() {
	if o.Users == 0 {
		o.Users = 2000
	}
	if o.Senders == 0 {
		o.Senders = 3
	}
	if o.RPS == 0 {
		o.RPS = 300
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	// The watcher and the disruption both write progress.
	o.Out = &syncWriter{w: o.Out}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
}

// Result is what one scenario run found.
type Result struct {
	Scenario   string
	Recipients int64 // the broadcast's total
	Members    int   // the audience (members of the tenant)
	// Kills by service kind (dispatcher, installer, sender); Restarts of
	// NATS or Redis (stalls: freezes); Bursts of injected throttling.
	Kills    map[string]int
	Restarts int
	Bursts   int
	// Lost are recipients not in a final state, or deliverable users
	// neither delivered nor failed for a reason the faults explain.
	Lost int
	// Duplicates are deliveries beyond one per user (ledger);
	// PossibleDuplicates what the broadcast reports; Unanswered the
	// deliveries whose answer the sender never read (it timed out, or was
	// killed with the request in flight); DeliveredWithError those
	// answered 502/504 (ledger).
	Duplicates, PossibleDuplicates, Unanswered, DeliveredWithError int64
	// RetriesExhausted are recipients failed/retries_exhausted; of them,
	// FailedButDelivered got the message anyway (a timed-out 201).
	RetriesExhausted, FailedButDelivered int
	Throttled, Violations                int64
	Elapsed                              time.Duration
	Seed                                 uint64
	WorkDir                              string
	Problems                             []string
}

// SenderKills is how many sender processes were killed.
func (r *Result) SenderKills() int { return r.Kills["sender"] }

// TotalKills is how many services were killed.
func (r *Result) TotalKills() int {
	n := 0
	for _, k := range r.Kills {
		n += k
	}
	return n
}

// Scenario is one kind of run.
type Scenario struct {
	Name string
	// setup adjusts the demo's options (faults, environment).
	setup func(*demo.Options)
	// disrupt disturbs the broadcast until ctx ends or its plan is done.
	disrupt func(r *runner, ctx context.Context) error
	// failuresExplained: faults that may exhaust a recipient's retries.
	failuresExplained bool
	// timeouts: the simulator answers some sends after the senders'
	// timeout, so a retried send may reach a user who already had the
	// message, and no sender can know (see Result.Unanswered).
	timeouts bool
	// stall: the services reach NATS through a devenv.FreezeProxy (the
	// embedded server cannot be stopped with SIGSTOP), the disruption
	// runs its whole plan even past the broadcast's end, and verify
	// checks what it did before the ledger is checked.
	stall  bool
	verify func(r *runner, ctx context.Context) []string
	// natsCluster runs NATS as a three-node cluster, the streams at three
	// replicas, instead of one server.
	natsCluster bool
	// dispatchers and installers run by default (1 when 0). Several
	// dispatchers stand behind a balancer (demo.Options.Dispatchers).
	dispatchers, installers int
	// redisHA runs Redis with replicas that take over from a dead master:
	// "sentinel" or "cluster" (devenv.RedisHA); one redis-server when "".
	redisHA string
}

// Scenarios are the suite's scenarios, in order.
var Scenarios = []Scenario{
	{Name: "kill", disrupt: (*runner).killServices, dispatchers: 3, installers: 2},
	{Name: "nats-restart", disrupt: (*runner).natsOutages},
	{Name: "nats-node", disrupt: (*runner).natsNodeOutages, natsCluster: true, dispatchers: 3, installers: 2},
	{Name: "redis-restart", disrupt: (*runner).redisOutages},
	{Name: "redis-sentinel", disrupt: (*runner).redisFailovers, redisHA: "sentinel", dispatchers: 3, installers: 2},
	{Name: "redis-cluster", disrupt: (*runner).redisFailovers, redisHA: "cluster", dispatchers: 3, installers: 2},
	{Name: "storm", setup: stormSetup, disrupt: (*runner).throttleBursts, failuresExplained: true, timeouts: true},
	{Name: "stall", disrupt: (*runner).stalls, stall: true, verify: (*runner).verifyCalls},
}

// NATSClusterSize is the nodes of the nats-node scenario's cluster, and its
// streams' replicas.
const NATSClusterSize = 3

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Storm settings: the fault rates the simulator answers with, and the
// RetryAfterTolerance is how long after a 429 left the simulator a request
// to the scope it blocked still counts as in flight in the chaos suite. A
// killed process, a Redis restart or a NATS outage loses or delays the
// tenant's shared pause while it lasts, and the suite runs under -race
// beside the other packages; it checks recovery, and a request sent half a
// second after a 429 is still a violation. The strict rule (5 ms) is the
// benchmarks' and the pacing tests' in normal operation.
const RetryAfterTolerance = 500 * time.Millisecond

// client timeout the slow answers exceed.
const (
	StormErrorRate        = 0.05 // 502/503/504
	StormGatewayDelivered = 0.5  // of the 502s and 504s, answered after the delivery
	StormPreconditionRate = 0.01 // 412
	StormSlowRate         = 0.01 // answers after StormSlowLatency
	StormBlocked          = 0.02 // of all users
	StormHTTPTimeout      = 2 * time.Second
	StormSlowLatency      = 3 * time.Second
)

func stormSetup(o *demo.Options) {
	o.Blocked = StormBlocked
	o.Env = append(o.Env, "HTTP_TIMEOUT="+StormHTTPTimeout.String())
	o.Sim = func(c *teamsim.Config) {
		c.ErrorRate, c.PreconditionRate, c.GatewayDeliveredRate = StormErrorRate, StormPreconditionRate, StormGatewayDelivered
		c.SlowRate, c.SlowLatency = StormSlowRate, StormSlowLatency
	}
}

// runner is one scenario run in progress.
type runner struct {
	o       Options
	s       Scenario
	rng     *rand.Rand
	env     *demo.Env
	nats    *devenv.NATSServer  // nil with natsCluster
	cluster *devenv.NATSCluster // natsCluster only
	redis   *devenv.RedisServer // nil with redisHA
	redisHA *devenv.RedisHA     // redisHA only
	proxy   *devenv.FreezeProxy // between the services and NATS (stall)
	id      string              // the broadcast
	calls   []*call             // the API calls made during stalls (stall.go)

	share atomic.Uint64 // float64 bits: the share of the audience final, as the watcher last saw it

	mu       sync.Mutex
	kills    map[string]int
	restarts int
	bursts   int
}

// Run runs scenario s.
func Run(ctx context.Context, s Scenario, o Options) (*Result, error) {
	o.defaults()
	work := o.WorkDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "broadcast-chaos-"+s.Name+"-"); err != nil {
			return nil, err
		}
	}
	if o.Dispatchers == 0 {
		o.Dispatchers = max(s.dispatchers, 1)
	}
	if o.Installers == 0 {
		o.Installers = max(s.installers, 1)
	}
	r := &runner{o: o, s: s, rng: rand.New(rand.NewPCG(o.Seed, 0x6368616f73)), kills: map[string]int{}}

	var natsURL string
	var err error
	if s.natsCluster {
		if r.cluster, err = devenv.NewNATSCluster(NATSClusterSize, devenv.NATSOptions{StoreDir: filepath.Join(work, "nats"), Logger: o.Log}); err != nil {
			return nil, err
		}
		defer r.cluster.Close()
		natsURL = r.cluster.URL()
	} else {
		if r.nats, err = devenv.NewNATSServer(devenv.NATSOptions{StoreDir: filepath.Join(work, "nats"), Logger: o.Log}); err != nil {
			return nil, err
		}
		defer r.nats.Close()
		natsURL = r.nats.URL()
	}
	var redisURL string
	switch s.redisHA {
	case "sentinel", "cluster":
		start := devenv.NewRedisSentinelHA
		if s.redisHA == "cluster" {
			start = devenv.NewRedisClusterHA
		}
		if r.redisHA, err = start(ctx, filepath.Join(work, "redis")); err != nil {
			return nil, err
		}
		defer func() { _ = r.redisHA.Close() }()
		redisURL = r.redisHA.URL()
	default:
		if r.redis, err = devenv.NewRedisServer(ctx, filepath.Join(work, "redis"), true); err != nil {
			return nil, err
		}
		defer func() { _ = r.redis.Close() }()
		redisURL = r.redis.URL()
	}

	if s.stall {
		if r.proxy, err = devenv.NewFreezeProxy(strings.TrimPrefix(natsURL, "nats://")); err != nil {
			return nil, err
		}
		defer func() { _ = r.proxy.Close() }()
		natsURL = "nats://" + r.proxy.Addr()
	}
	do := demo.Options{
		Users: o.Users, NotInstalled: 0.1, Blocked: 0.02, RPS: o.RPS, GraphRPS: 500, Latency: 20 * time.Millisecond,
		BinDir: o.BinDir, WorkDir: work, NATSURL: natsURL, RedisURL: redisURL, Senders: o.Senders,
		Dispatchers: o.Dispatchers, Installers: o.Installers,
		Out: o.Out, Log: o.Log, Env: []string{fmt.Sprintf("SEND_CONCURRENCY=%d", SendConcurrency)},
	}
	if s.natsCluster {
		do.Env = append(do.Env, fmt.Sprintf("NATS_STREAM_REPLICAS=%d", NATSClusterSize))
	}
	if s.setup != nil {
		s.setup(&do)
	}
	setup := do.Sim
	do.Sim = func(c *teamsim.Config) {
		if setup != nil {
			setup(c)
		}
		c.RetryAfterTolerance = RetryAfterTolerance
	}
	fmt.Fprintf(o.Out, "scenario %s: %d users, %d dispatchers, %d installers, %d senders, seed %d\n",
		s.Name, o.Users, o.Dispatchers, o.Installers, o.Senders, o.Seed)
	r.env, err = demo.Start(ctx, do)
	if err != nil {
		return nil, err
	}
	defer r.env.Close()

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	b, err := r.env.Announce(ctx, r.env.Tenants()[0], "Chaos "+s.Name)
	if err != nil {
		return nil, err
	}
	r.id = b.ID

	dctx, stopDisrupt := context.WithCancel(ctx)
	if s.stall {
		dctx = ctx // its calls are the test: they all run
	}
	disrupted := make(chan error, 1)
	go func() { disrupted <- s.disrupt(r, dctx) }()
	watchErr := r.watch(ctx)
	elapsed := time.Since(start)
	stopDisrupt()
	disruptErr := <-disrupted

	res := &Result{Scenario: s.Name, Elapsed: elapsed, Seed: o.Seed, WorkDir: work}
	r.mu.Lock()
	res.Kills, res.Restarts, res.Bursts = r.kills, r.restarts, r.bursts
	r.mu.Unlock()
	if disruptErr != nil && !errors.Is(disruptErr, context.Canceled) {
		res.Problems = append(res.Problems, "disruption: "+disruptErr.Error())
	}
	if watchErr != nil {
		res.Problems = append(res.Problems, watchErr.Error())
	}
	// Check even a run that did not complete: what is lost says why.
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ccancel()
	if s.verify != nil {
		res.Problems = append(res.Problems, s.verify(r, cctx)...)
	}
	if err := r.check(cctx, res); err != nil {
		return nil, err
	}
	// Every service, killed and restarted or not, drains and exits 0.
	res.Problems = append(res.Problems, r.env.StopServices()...)
	return res, nil
}

// watch polls the broadcast until it completes, telling the disruption how
// far it is. The API may be away (its dispatcher killed, Redis stopped):
// that is waited out, within the run's timeout.
func (r *runner) watch(ctx context.Context) error {
	var last *broadcast.Broadcast
	lastLine := time.Now()
	for {
		if err := r.env.Exited(); err != nil {
			return fmt.Errorf("a service died on its own: %w", err)
		}
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := r.env.Get(gctx, r.id)
		cancel()
		if err == nil {
			last = b
			r.share.Store(math.Float64bits(float64(b.Counts.Done()) / float64(r.o.Users)))
			if b.Status == broadcast.StatusCompleted {
				fmt.Fprintf(r.o.Out, "%s: completed: %s\n", r.s.Name, countsLine(b.Counts))
				return nil
			}
			if time.Since(lastLine) > 5*time.Second {
				fmt.Fprintf(r.o.Out, "%s: %s %s\n", r.s.Name, b.Status, countsLine(b.Counts))
				lastLine = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return fmt.Errorf("broadcast %s did not complete: %w", r.id, ctx.Err())
			}
			return fmt.Errorf("broadcast %s did not complete: %w (%s, %s)", r.id, ctx.Err(), last.Status, countsLine(last.Counts))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func countsLine(c broadcast.Counts) string {
	return fmt.Sprintf("recipients %d: sent %d, blocked %d, failed %d, installing %d, pending %d, sending %d",
		c.Total, c.Sent, c.Blocked, c.Failed, c.Installing, c.Pending, c.Sending)
}

// doneShare is the share of the audience final, as last seen.
func (r *runner) doneShare() float64 { return math.Float64frombits(r.share.Load()) }

// waitUntil waits until the broadcast is at least share done.
func (r *runner) waitUntil(ctx context.Context, share float64) error {
	for r.doneShare() < share {
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// between is a random duration in [lo, hi).
func (r *runner) between(lo, hi time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

func (r *runner) intn(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.IntN(n)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logTail is the end of a service's log, for problems.
func (r *runner) logTail(name string, lines int) string {
	return demo.Tail(filepath.Join(r.env.WorkDir(), name+".log"), lines)
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
