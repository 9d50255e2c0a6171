// Package demo runs the whole product on one machine: NATS JetStream, Redis,
// the Teams/Graph simulator, and the dispatcher, installer and sender as
// separate processes; it sends one announcement to every user of the
// simulated tenant, shows its progress, and checks the outcome against the
// simulator's ledger.
//
// The benchmarks (internal/bench) use the same run with more tenants, a
// CPU profile, an urgent notice in the middle, or only the dispatcher.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Options configure a demo run.
type Options struct {
	Users        int     // users in the simulated tenant (in each, with Tenants)
	NotInstalled float64 // fraction without the app installed
	Blocked      float64 // fraction (of all users) who blocked the bot
	RPS          int     // the simulator's Connector limit and the senders' rate (per tenant)
	GraphRPS     int     // the simulator's Graph limit and the installers' rate
	// Latency of the simulator's answers, plus a uniform [0, LatencyJitter)
	// (as much as Latency when LatencyJitter is 0), and
	// teamsim.DefaultNetworkJitter. Both 0: Teams' profile,
	// teamsim.Config.Realistic (100 ms ±50%, a fresh install's chat 2-4 s
	// later).
	Latency, LatencyJitter time.Duration
	// NoLatency: answers at once, no network jitter, chats ready at once
	// (the raw-pipeline benchmark's zero-latency variant).
	NoLatency         bool
	BinDir            string // where the dispatcher, installer and sender binaries are
	WorkDir           string // logs and stores; a temporary directory when empty
	NATSURL, RedisURL string // existing servers; started here when empty
	// NATSProcess runs a NATS started here as a process of its own
	// (bin/natsd) rather than inside this one, so that its CPU is
	// measured apart from the simulator's.
	NATSProcess bool
	Timeout     time.Duration
	Out         io.Writer // progress and summary
	Progress    bool      // draw a progress bar (a terminal); else a line every few seconds
	Log         *zap.Logger

	// For benchmarks:
	Senders   int     // sender processes (default 1)
	Pace      float64 // share of the simulator's limits the services are configured at (default 1: TENANT_RPS = the limit)
	Unlimited bool    // the simulator enforces no limit; the services pace at 1,000,000/s
	// Serve keeps everything running after the run until ctx ends (Ctrl-C),
	// so that a person can sign in to the console and try it.
	Serve bool
	// Dispatchers and Installers are the processes of each (default 1).
	// Several dispatchers stand behind a balancer (balancer.go), as behind
	// a deployment's load balancer: the API, the bot endpoint and the
	// console each keep one address.
	Dispatchers, Installers int
	// Warm sends a first broadcast to fill the conversation cache, then
	// measures a second. With NotInstalled, the first goes only to the users
	// who have the app, so the second still installs it for the others.
	Warm bool
	// Tenants simulated, each with Users users and its own limits, all
	// served by the same services; one broadcast per tenant at once (default 1).
	Tenants int
	// EnqueueOnly starts only the dispatcher: the measured broadcast ends
	// when its whole audience is enqueued (its status leaves expanding).
	EnqueueOnly bool
	// Profile takes a CPU profile of the (first) sender this long from the
	// measured broadcast's creation, into <work>/sender.cpu.pprof.
	Profile time.Duration
	// Urgent, when positive, creates an urgent notice to that many users of
	// the (first) tenant once the measured broadcast is UrgentAt done (0..1).
	Urgent   int
	UrgentAt float64
	// KillAt, when positive, kills the first sender with SIGKILL once the
	// measured broadcast is that far done (0..1), and leaves it dead: its
	// jobs in hand are taken over by the other senders (Senders >= 2).
	KillAt float64

	// Engagement is what the simulated users do with the messages they
	// get (read, react, acknowledge, reply; teamsim.Engagement): the run
	// then waits for them before it takes the CPU figures, and the
	// announcement has an acknowledge button (Action.Execute).
	Engagement teamsim.Engagement
	// EndpointLoad, when its Rate is set, loads the bot endpoint with
	// engagement activities after the broadcasts (Result.Endpoint).
	EndpointLoad EndpointLoad

	// For fault tests:
	// Env is added to the services' environment (e.g. HTTP_TIMEOUT).
	Env []string
	// Sim, when set, adjusts the simulator's configuration (fault rates,
	// latency, population) before it is built.
	Sim func(*teamsim.Config)
}

// Credentials of the simulated bot; the simulator accepts only these.
const (
	botAppID    = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	botPassword = "demo-secret-not-for-production"
	teamsAppID  = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
)

// Result is what a demo run found.
type Result struct {
	// Broadcast is the measured broadcast; with several tenants, the sum of
	// theirs (see Tenants).
	Broadcast *broadcast.Broadcast
	Ledger    teamsim.Ledger
	// LedgerBefore is the simulator's ledger when the measured broadcast
	// was created: Ledger less it is the measured broadcast's alone.
	LedgerBefore teamsim.Ledger
	Expected     Expected
	Problems     []string // empty when everything matched
	Elapsed      time.Duration
	Tenant       string // the (first) tenant
	// SteadyRate is the delivery rate between 10% and 90% of the measured
	// broadcast, without its start and its tail (messages/s); with several
	// tenants, of all of them together.
	SteadyRate float64
	// Broadcasts is how many broadcasts the run sent per tenant (2 when
	// warmed up), not counting an urgent notice.
	Broadcasts int
	Senders    int
	Pace       float64
	Tenants    []TenantResult // each tenant's measured broadcast

	// CPU is the CPU time each process used during the measured broadcast.
	CPU []ProcessCPU
	// Profile is the sender's CPU profile file, and ProfileTop its
	// `go tool pprof -top` (empty without Options.Profile).
	Profile, ProfileTop string
	// Known is the number of recipients of the measured broadcast whose
	// conversation was known when it started (a warm-up reached them), and
	// KnownRate the delivery rate between 10% and 90% of that many done.
	Known     int64
	KnownRate float64
	// InstallsDone is when, from the measured broadcast's creation, no
	// recipient was installing any more; 0 when none needed it.
	InstallsDone time.Duration
	// Urgent is the urgent notice's outcome (Options.Urgent).
	Urgent *UrgentResult
	// Killed is the sender killed in the middle (Options.KillAt).
	Killed *KillResult
	// EnqueueOnly runs measure only the expansion (Options.EnqueueOnly);
	// DispatcherPeakRSS is then the dispatcher's VmHWM in bytes.
	EnqueueOnly       bool
	DispatcherPeakRSS int64
	// Endpoint is what Options.EndpointLoad measured.
	Endpoint *EndpointResult
}

// TenantResult is one tenant's measured broadcast.
type TenantResult struct {
	Tenant     string
	Broadcast  *broadcast.Broadcast
	SteadyRate float64 // messages/s between 10% and 90%
}

// Expected is what the simulator's population says the outcome must be.
type Expected struct {
	Members, Deliverable, Blocked int
}

// Run runs the demo. It returns an error when something could not run; a run
// whose outcome does not match the ledger returns a Result with Problems.
func Run(ctx context.Context, o Options) (*Result, error) {
	e, err := Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.Close() // on the error paths; a finished run has stopped the services below
	wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	var res *Result
	if e.o.EnqueueOnly {
		res, err = e.enqueue(wctx)
	} else {
		res, err = e.broadcasts(wctx)
	}
	if err != nil {
		return nil, err
	}
	if e.o.EndpointLoad.Rate > 0 {
		if res.Endpoint, err = e.endpointLoad(wctx); err != nil {
			return nil, err
		}
	}
	if e.o.Serve {
		fmt.Fprintf(e.o.Out, "broadcast done; serving until Ctrl-C: the console at %s, the API at %s\n", e.ConsoleURL, e.api.base)
		<-ctx.Done()
	}
	// The services drain and exit 0 on SIGTERM, and logged no secret.
	res.Problems = append(res.Problems, e.StopServices()...)
	return res, nil
}

// Env is a started demo environment: NATS, Redis, the simulator (in this
// process) and the services as child processes. Close stops everything.
type Env struct {
	*run
	stops []func() // in the order to call them
	// ConsoleURL is where the dispatcher serves the web console.
	ConsoleURL string

	mu     sync.Mutex
	killed map[string]*child // by name, until restarted
}

// Start starts the servers, the simulator and the services, and waits until
// the dispatcher's API answers.
func Start(ctx context.Context, o Options) (_ *Env, err error) {
	o.defaults()
	e := &Env{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	work := o.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "broadcast-demo-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "work directory (service logs): %s\n", work)

	natsURL, natsPID, stopNATS, err := o.startNATS(ctx, work)
	if err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	e.stops = append(e.stops, stopNATS)
	redisURL, stopRedis, err := devenv.StartRedis(ctx, devenv.RedisOptions{URL: o.RedisURL, Dir: filepath.Join(work, "redis"), AOF: true, Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	e.stops = append(e.stops, stopRedis)
	fmt.Fprintf(o.Out, "NATS JetStream at %s, Redis at %s\n", natsURL, redisURL)

	// New tenants each run: a Redis that outlives the run (REDIS_URL) keeps
	// nothing from an earlier one that could change this one's outcome.
	tenants := make([]string, o.Tenants)
	for i := range tenants {
		tenants[i] = uuid.NewString()
	}
	// The dispatcher's bot endpoint, where the simulator posts an
	// activity for each install, as Teams does.
	botAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	sim, simURL, stopSim, err := o.startSim(tenants, "http://"+botAddr+bot.Path)
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, stopSim)
	population := fmt.Sprintf("%d users", o.Users)
	if o.Tenants > 1 {
		population = fmt.Sprintf("%d tenants of %d users", o.Tenants, o.Users)
	}
	if o.Unlimited {
		fmt.Fprintf(o.Out, "Teams/Graph simulator at %s: %s, %.0f%% without the app, %.0f%% blocked the bot, no limits\n",
			simURL, population, 100*o.NotInstalled, 100*o.Blocked)
	} else {
		fmt.Fprintf(o.Out, "Teams/Graph simulator at %s: %s, %.0f%% without the app, %.0f%% blocked the bot, limits %d requests/s (Connector) and %d/s (Graph installs); services pace at %.0f%% of them\n",
			simURL, population, 100*o.NotInstalled, 100*o.Blocked, o.RPS, o.GraphRPS, 100*o.Pace)
	}

	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	consoleAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The demo mints an admin key; the dispatcher gets its hash only.
	apiClient, keyLine, err := newClient(apiAddr)
	if err != nil {
		return nil, err
	}
	env := []string{
		"NATS_URL=" + natsURL, "REDIS_URL=" + redisURL, "TENANT_ID=" + strings.Join(tenants, ","),
		"BOT_APP_ID=" + botAppID, "BOT_APP_PASSWORD=" + botPassword, "TEAMS_APP_ID=" + teamsAppID,
		"LOGIN_URL=" + simURL + "/login", "GRAPH_URL=" + simURL + "/graph/v1.0", "BOT_SERVICE_URL=" + simURL + "/connector/",
		fmt.Sprintf("TENANT_RPS=%g", o.pace(o.RPS)), fmt.Sprintf("GRAPH_RPS=%g", o.pace(o.GraphRPS)),
		"API_KEYS=" + keyLine,
		"BOT_OPENID_METADATA_URL=" + simURL + teamsim.BotOpenIDMetadataPath,
		"BOT_JWKS_URL=" + simURL + teamsim.BotJWKSPath, "BOT_SERVICE_HOSTS=127.0.0.1", "INSTALL_CONVERSATION_WAIT=1500ms",
		// The web console, signing in through the simulator, over http on this machine only.
		"CONSOLE_URL=http://" + consoleAddr, "CONSOLE_INSECURE_COOKIES=true",
	}
	procs := newProcesses(o.BinDir, work, append(env, o.Env...), o.Log)
	e.run = &run{o: &o, sim: sim, procs: procs, tenants: tenants, work: work, want: make(map[UserKey]int), api: apiClient, natsPID: natsPID}
	listeners, stopBalancers, err := o.dispatcherListeners(procs, apiAddr, botAddr, consoleAddr)
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, stopBalancers)
	pprofAddr, err := o.startServices(procs, listeners)
	if err != nil {
		return nil, err
	}
	e.pprofAddr = pprofAddr
	if err := e.api.waitHealthy(ctx, 20*time.Second, procs); err != nil {
		return nil, err
	}
	printMetrics(o.Out, procs)
	e.ConsoleURL = "http://" + consoleAddr
	printConsole(o.Out, e.ConsoleURL, sim.IdPAccounts(tenants[0]))
	return e, nil
}

// printConsole says where the console is and whom to sign in as.
func printConsole(out io.Writer, url string, accounts []teamsim.IdPAccount) {
	fmt.Fprintf(out, "console at %s: sign in through the simulator as", url)
	for i, a := range accounts {
		if len(a.Roles) == 0 {
			continue
		}
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(out, "%s %s (%s)", sep, a.UPN, strings.Join(a.Roles, ", "))
	}
	fmt.Fprintln(out)
}

// StopServices asks every service to shut down (SIGTERM), and returns a
// problem for each that did not exit 0 within 30 s or logged a secret.
func (e *Env) StopServices() []string {
	if e.run == nil {
		return nil
	}
	problems := e.procs.stop()
	return append(problems, e.procs.leaks(botPassword, "Bearer ", e.api.key)...) // and any token: see leaks
}

// Close stops the services (if StopServices has not), the simulator and
// the servers Start started.
func (e *Env) Close() {
	if e.run != nil {
		e.procs.stop()
	}
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
}

// startNATS starts NATS JetStream as NATSURL and NATSProcess ask, with its
// store under work; natsPID is the server's process when it has its own.
func (o *Options) startNATS(ctx context.Context, work string) (url string, natsPID int, stop func(), err error) {
	if o.NATSProcess && o.NATSURL == "" {
		return startNATSProcess(ctx, o.BinDir, work)
	}
	url, stop, err = devenv.StartNATS(ctx, devenv.NATSOptions{URL: o.NATSURL, StoreDir: filepath.Join(work, "nats"), Logger: o.Log})
	return url, 0, stop, err
}

// dispatcherListeners returns each dispatcher's listen variables
// (HTTP_ADDR, BOT_ADDR, CONSOLE_ADDR). One dispatcher listens on the
// demo's addresses itself. Several each listen on ports they pick and log,
// behind a balancer on each of the demo's addresses, which stop stops.
func (o *Options) dispatcherListeners(procs *processes, apiAddr, botAddr, consoleAddr string) (listeners [][]string, stop func(), err error) {
	if o.Dispatchers == 1 {
		return [][]string{{"HTTP_ADDR=" + apiAddr, "BOT_ADDR=" + botAddr, "CONSOLE_ADDR=" + consoleAddr}}, func() {}, nil
	}
	listeners = make([][]string, o.Dispatchers)
	for i := range listeners {
		listeners[i] = []string{"HTTP_ADDR=127.0.0.1:0", "BOT_ADDR=127.0.0.1:0", "CONSOLE_ADDR=127.0.0.1:0"}
	}
	var started []*balancer
	stop = func() {
		for _, b := range started {
			b.Close()
		}
	}
	// Each front and the message its dispatchers log its port with
	// (cmd/dispatcher).
	for front, msg := range map[string]string{apiAddr: "listening", botAddr: "bot endpoint listening", consoleAddr: "console listening"} {
		b, err := startBalancer(front, func() []string {
			var addrs []string
			for i := 1; i <= o.Dispatchers; i++ {
				if a := procs.loggedAddr(ServiceName("dispatcher", i), msg); a != "" {
					addrs = append(addrs, a)
				}
			}
			return addrs
		})
		if err != nil {
			stop()
			return nil, nil, err
		}
		started = append(started, b)
	}
	return listeners, stop, nil
}

// ServiceName is the ith (from 1) process of a service: dispatcher,
// dispatcher-2, …
func ServiceName(service string, i int) string {
	if i == 1 {
		return service
	}
	return fmt.Sprintf("%s-%d", service, i)
}

// startServices starts the dispatchers (each with its listeners) and,
// unless EnqueueOnly, the installers and the senders. It returns the first
// sender's pprof address when Profile asks for one.
func (o *Options) startServices(procs *processes, listeners [][]string) (pprofAddr string, err error) {
	for i, l := range listeners {
		if err := procs.start("dispatcher", ServiceName("dispatcher", i+1), l...); err != nil {
			return "", err
		}
	}
	if o.EnqueueOnly {
		return "", nil
	}
	for i := 1; i <= o.Installers; i++ {
		if err := procs.start("installer", ServiceName("installer", i)); err != nil {
			return "", err
		}
	}
	for i := 1; i <= o.Senders; i++ {
		name := ServiceName("sender", i)
		var extra []string
		if i == 1 && o.Profile > 0 {
			if pprofAddr, err = freeAddr(); err != nil {
				return "", err
			}
			extra = append(extra, "PPROF_ADDR="+pprofAddr)
		}
		if err := procs.start("sender", name, extra...); err != nil {
			return "", err
		}
	}
	return pprofAddr, nil
}

// pace is the rate the services are given for a simulator limit: by
// default the limit itself, as a deployment configures the documented one;
// the services keep the margin that jitter needs (internal/ratelimit).
func (o *Options) pace(limit int) float64 {
	if o.Unlimited {
		return 1_000_000
	}
	return o.Pace * float64(limit)
}

func (o *Options) defaults() {
	if o.Users == 0 {
		o.Users = 2000
	}
	if o.RPS == 0 {
		o.RPS = 50
	}
	if o.GraphRPS == 0 {
		o.GraphRPS = 30
	}
	if o.Senders == 0 {
		o.Senders = 1
	}
	if o.Dispatchers == 0 {
		o.Dispatchers = 1
	}
	if o.Installers == 0 {
		o.Installers = 1
	}
	if o.Pace == 0 {
		o.Pace = 1
	}
	if o.Tenants == 0 {
		o.Tenants = 1
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
}

// timing sets the simulator's latency and chat delay from Latency,
// LatencyJitter and NoLatency.
func (o *Options) timing(c *teamsim.Config) {
	switch {
	case o.NoLatency:
		c.Latency, c.LatencyJitter, c.NetworkJitter, c.ChatReadyDelay, c.ChatReadyJitter = 0, 0, 0, 0, 0
	case o.Latency == 0 && o.LatencyJitter == 0:
		*c = c.Realistic()
	default:
		c.Latency, c.LatencyJitter, c.NetworkJitter = o.Latency, o.LatencyJitter, teamsim.DefaultNetworkJitter
		if c.LatencyJitter == 0 {
			c.LatencyJitter = o.Latency
		}
	}
}

func (o *Options) startSim(tenants []string, botEndpoint string) (*teamsim.Sim, string, func(), error) {
	installed := 1 - o.NotInstalled
	blocked := 0.0
	if installed > 0 {
		blocked = o.Blocked / installed // the simulator takes the blocked among the installed
	}
	limit := func(rps int) int {
		if o.Unlimited {
			return 0
		}
		return rps
	}
	cfg := teamsim.Config{
		Tenants: tenants, UsersPerTenant: o.Users, InstalledFraction: installed, BlockedFraction: blocked,
		BotAppID: botAppID, BotAppPassword: botPassword, TeamsAppID: teamsAppID,
		ConnectorRPS: limit(o.RPS), GraphRPS: limit(o.GraphRPS), ConversationLimits: !o.Unlimited,
		Seed: 1, Logger: o.Log.Named("teamsim"), BotEndpoint: botEndpoint, Engagement: o.Engagement,
	}
	o.timing(&cfg)
	if o.Sim != nil {
		o.Sim(&cfg)
	}
	sim, err := teamsim.New(cfg)
	if err != nil {
		return nil, "", nil, fmt.Errorf("simulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		sim.Close()
	}
	return sim, "http://" + ln.Addr().String(), stop, nil
}

// announcement is the demo's message: an Adaptive Card that says who sends
// it, why the user gets it, and what to do.
func announcement(title string) broadcast.Message {
	return broadcast.Message{Text: "Company update: " + title, Card: json.RawMessage(`{"type":"AdaptiveCard","version":"1.5","body":[
 {"type":"TextBlock","text":"` + title + `","weight":"Bolder","size":"Large","wrap":true},
 {"type":"TextBlock","text":"From Internal Communications, to everyone at Contoso.","isSubtle":true,"wrap":true},
 {"type":"TextBlock","text":"Bookings now go through the travel portal. Trips booked before 1 December are not affected.","wrap":true}],
"actions":[{"type":"Action.OpenUrl","title":"Read the policy","url":"https://contoso.example/travel"}]}`)}
}

// Print writes the summary of a run.
func Print(w io.Writer, r *Result) {
	c, l, e := r.Broadcast.Counts, r.Ledger, r.Expected
	rate := float64(c.Sent) / r.Elapsed.Seconds()
	fmt.Fprintf(w, "\nbroadcast %s %s in %s (%.1f messages/s; %.1f/s between 10%% and 90%%)\n\n",
		r.Broadcast.ID, r.Broadcast.Status, r.Elapsed.Round(100*time.Millisecond), rate, r.SteadyRate)
	fmt.Fprintf(w, "  %-34s %10s %10s\n", "", "broadcast", "simulator")
	row := func(name string, ours, theirs any) { fmt.Fprintf(w, "  %-34s %10v %10v\n", name, ours, theirs) }
	row("recipients (members, no guests)", c.Total, e.Members)
	row("delivered", c.Sent, l.DeliveredUsers)
	row("deliverable users", "", e.Deliverable)
	row("blocked or disabled", c.Blocked, e.Blocked)
	row("failed", c.Failed, "")
	row("left pending", c.Pending+c.Installing+c.Sending, "")
	row("deliveries / duplicates", "", fmt.Sprintf("%d / %d", l.Deliveries, l.Duplicates))
	row("429s / Retry-After violations", "", fmt.Sprintf("%d / %d", l.Throttled, l.RetryAfterViolations))
	row("apps installed (201) / 409s", "", fmt.Sprintf("%d / %d", l.Installs, l.InstallConflicts))
	row("installs posted to the bot / 200s", "", fmt.Sprintf("%d / %d", l.BotActivities, l.BotAnswers[http.StatusOK]))
	row("conversation lookups (Graph GETs)", "", l.Requests[teamsim.KindGraphInstalledGet]+l.Requests[teamsim.KindGraphChat])
	if r.InstallsDone > 0 {
		row("installs finished after", r.InstallsDone.Round(100*time.Millisecond), "")
	}
	printEngagement(w, r)
	if u := r.Urgent; u != nil {
		row("urgent notice: recipients / sent", fmt.Sprintf("%d / %d", u.Broadcast.Counts.Total, u.Broadcast.Counts.Sent), "")
		row("urgent notice: created at / took", fmt.Sprintf("%d done / %s", u.BigDone, u.Elapsed.Round(10*time.Millisecond)), "")
	}
	fmt.Fprintln(w)
	if len(r.Problems) == 0 && r.EnqueueOnly {
		fmt.Fprintln(w, "OK: every member is recorded and waiting in the stream; the dispatcher stopped cleanly on SIGTERM and logged no secret.")
		return
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "OK: every deliverable user got the message exactly once, blocked users are recorded as blocked, nothing is left pending;\n    the services stopped cleanly on SIGTERM and logged no secret.")
		return
	}
	fmt.Fprintln(w, "MISMATCH:")
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  - "+p)
	}
}

// printMetrics says where each service's metrics are, in start order.
func printMetrics(out io.Writer, procs *processes) {
	addrs := procs.metricsAddrs()
	for _, name := range procs.running() {
		if a, ok := addrs[name]; ok {
			fmt.Fprintf(out, "%s: metrics at http://%s/metrics, health at /healthz and /readyz\n", name, a)
		} else {
			fmt.Fprintf(out, "%s: metrics: not listening yet (its log names the address)\n", name)
		}
	}
}
