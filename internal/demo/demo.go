// Package demo runs the whole product on one machine: NATS JetStream, Redis,
// the Teams/Graph simulator, and the dispatcher, installer and sender as
// separate processes; it sends one announcement to every user of the
// simulated tenant, shows its progress, and checks the outcome against the
// simulator's ledger.
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
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Options configure a demo run.
type Options struct {
	Users             int     // users in the simulated tenant
	NotInstalled      float64 // fraction without the app installed
	Blocked           float64 // fraction (of all users) who blocked the bot
	RPS               int     // the simulator's Connector limit and the senders' rate
	GraphRPS          int     // the simulator's Graph limit and the installers' rate
	Latency           time.Duration
	BinDir            string // where the dispatcher, installer and sender binaries are
	WorkDir           string // logs and stores; a temporary directory when empty
	NATSURL, RedisURL string // existing servers; started here when empty
	Timeout           time.Duration
	Out               io.Writer // progress and summary
	Progress          bool      // draw a progress bar (a terminal); else a line every few seconds
	Log               *zap.Logger

	// For benchmarks:
	Senders   int     // sender processes (default 1)
	Pace      float64 // share of the simulator's limits the services pace at (default 0.95)
	Unlimited bool    // the simulator enforces no limit; the services pace at 1,000,000/s
	Warm      bool    // send a first broadcast to fill the conversation cache, then measure a second
}

// Credentials of the simulated bot; the simulator accepts only these.
const (
	botAppID    = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	botPassword = "demo-secret-not-for-production"
	teamsAppID  = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
)

// Result is what a demo run found.
type Result struct {
	Broadcast *broadcast.Broadcast
	Ledger    teamsim.Ledger
	Expected  Expected
	Problems  []string // empty when everything matched
	Elapsed   time.Duration
	Tenant    string
	// SteadyRate is the delivery rate between 10% and 90% of the measured
	// broadcast, without its start and its tail (messages/s).
	SteadyRate float64
	// Broadcasts is how many broadcasts the run sent (2 when warmed up).
	Broadcasts int
	Senders    int
	Pace       float64
}

// Expected is what the simulator's population says the outcome must be.
type Expected struct {
	Members, Deliverable, Blocked int
}

// Run runs the demo. It returns an error when something could not run; a run
// whose outcome does not match the ledger returns a Result with Problems.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	work := o.WorkDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "broadcast-demo-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "work directory (service logs): %s\n", work)

	natsURL, stopNATS, err := devenv.StartNATS(ctx, devenv.NATSOptions{URL: o.NATSURL, StoreDir: filepath.Join(work, "nats"), Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	defer stopNATS()
	redisURL, stopRedis, err := devenv.StartRedis(ctx, devenv.RedisOptions{URL: o.RedisURL, Dir: filepath.Join(work, "redis"), Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	defer stopRedis()
	fmt.Fprintf(o.Out, "NATS JetStream at %s, Redis at %s\n", natsURL, redisURL)

	// A new tenant each run: a Redis that outlives the run (REDIS_URL) keeps
	// nothing from an earlier one that could change this one's outcome.
	tenant := uuid.NewString()
	sim, simURL, stopSim, err := o.startSim(tenant)
	if err != nil {
		return nil, err
	}
	defer stopSim()
	if o.Unlimited {
		fmt.Fprintf(o.Out, "Teams/Graph simulator at %s: %d users, %.0f%% without the app, %.0f%% blocked the bot, no limits\n",
			simURL, o.Users, 100*o.NotInstalled, 100*o.Blocked)
	} else {
		fmt.Fprintf(o.Out, "Teams/Graph simulator at %s: %d users, %.0f%% without the app, %.0f%% blocked the bot, limits %d requests/s (Connector) and %d/s (Graph installs); services pace at %.0f%% of them\n",
			simURL, o.Users, 100*o.NotInstalled, 100*o.Blocked, o.RPS, o.GraphRPS, 100*o.Pace)
	}

	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"NATS_URL=" + natsURL, "REDIS_URL=" + redisURL, "TENANT_ID=" + tenant,
		"BOT_APP_ID=" + botAppID, "BOT_APP_PASSWORD=" + botPassword, "TEAMS_APP_ID=" + teamsAppID,
		"LOGIN_URL=" + simURL + "/login", "GRAPH_URL=" + simURL + "/graph/v1.0", "BOT_SERVICE_URL=" + simURL + "/connector/",
		fmt.Sprintf("TENANT_RPS=%g", o.pace(o.RPS)), fmt.Sprintf("GRAPH_RPS=%g", o.pace(o.GraphRPS)),
		"HTTP_ADDR=" + apiAddr,
	}
	procs := newProcesses(o.BinDir, work, env, o.Log)
	defer procs.stop() // on the error paths; a finished run stops them below
	for _, name := range []string{"dispatcher", "installer"} {
		if err := procs.start(name, name); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= o.Senders; i++ {
		name := "sender"
		if i > 1 {
			name = fmt.Sprintf("sender-%d", i)
		}
		if err := procs.start("sender", name); err != nil {
			return nil, err
		}
	}
	api := &client{base: "http://" + apiAddr, http: &http.Client{Timeout: 10 * time.Second}}
	if err := api.waitHealthy(ctx, 20*time.Second, procs); err != nil {
		return nil, err
	}

	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	broadcasts := 1
	if o.Warm {
		fmt.Fprintln(o.Out, "warm-up broadcast: installs the app where needed and fills the conversation cache")
		if _, _, err := o.send(wctx, api, procs, "Warm-up"); err != nil {
			return nil, err
		}
		broadcasts++
	}
	start := time.Now()
	b, samples, err := o.send(wctx, api, procs, "New travel policy from 1 December")
	if err != nil {
		return nil, err
	}
	res := &Result{Broadcast: b, Ledger: sim.Ledger(), Elapsed: time.Since(start), Tenant: tenant,
		SteadyRate: steadyRate(samples, b.Counts.Total), Broadcasts: broadcasts, Senders: o.Senders, Pace: o.Pace}
	res.Expected = expect(sim.Users(tenant))
	res.Problems = check(res, sim)
	// The services drain and exit 0 on SIGTERM, and logged no secret.
	res.Problems = append(res.Problems, procs.stop()...)
	res.Problems = append(res.Problems, procs.leaks(botPassword, "Bearer ")...)
	return res, nil
}

// send creates a broadcast to all users and watches it to the end.
func (o *Options) send(ctx context.Context, api *client, procs *processes, title string) (*broadcast.Broadcast, []sample, error) {
	b, err := api.create(ctx, announcement(title))
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Out, "broadcast %s accepted: sending to all users\n", b.ID)
	return o.watch(ctx, api, b.ID, procs)
}

// pace is the rate the services are given for a simulator limit: a share of
// it, because at exactly the limit latency jitter now and then puts one
// request too many into a one-second window, and each 429 costs a whole
// second's pause.
func (o *Options) pace(limit int) float64 {
	if o.Unlimited {
		return 1_000_000
	}
	return o.Pace * float64(limit)
}

// sample is the number of recipients done at a moment.
type sample struct {
	at   time.Time
	done int64
}

// steadyRate is the rate between 10% and 90% of total.
func steadyRate(samples []sample, total int64) float64 {
	var from, to *sample
	for i := range samples {
		s := &samples[i]
		if from == nil && s.done >= total/10 {
			from = s
		}
		if to == nil && s.done >= total*9/10 {
			to = s
		}
	}
	if from == nil || to == nil || !to.at.After(from.at) {
		return 0
	}
	return float64(to.done-from.done) / to.at.Sub(from.at).Seconds()
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
	if o.Pace == 0 {
		o.Pace = 0.95
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

func (o *Options) startSim(tenant string) (*teamsim.Sim, string, func(), error) {
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
	sim, err := teamsim.New(teamsim.Config{
		Tenants: []string{tenant}, UsersPerTenant: o.Users, InstalledFraction: installed, BlockedFraction: blocked,
		BotAppID: botAppID, BotAppPassword: botPassword, TeamsAppID: teamsAppID,
		ConnectorRPS: limit(o.RPS), GraphRPS: limit(o.GraphRPS), ConversationLimits: !o.Unlimited,
		Latency: o.Latency, LatencyJitter: o.Latency, Seed: 1, Logger: o.Log.Named("teamsim"),
	})
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
	}
	return sim, "http://" + ln.Addr().String(), stop, nil
}

// announcement is the demo's message: an Adaptive Card that says who sends
// it, why the user gets it, and what to do.
func announcement(title string) string {
	return `{"message":{"text":"Company update: ` + title + `",
"card":{"type":"AdaptiveCard","version":"1.5","body":[
 {"type":"TextBlock","text":"` + title + `","weight":"Bolder","size":"Large","wrap":true},
 {"type":"TextBlock","text":"From Internal Communications, to everyone at Contoso.","isSubtle":true,"wrap":true},
 {"type":"TextBlock","text":"Bookings now go through the travel portal. Trips booked before 1 December are not affected.","wrap":true}],
"actions":[{"type":"Action.OpenUrl","title":"Read the policy","url":"https://contoso.example/travel"}]}},
"audience":{"allUsers":true}}`
}

// watch shows progress until the broadcast completes.
func (o *Options) watch(ctx context.Context, api *client, id string, procs *processes) (*broadcast.Broadcast, []sample, error) {
	var bar *progressbar.ProgressBar
	if o.Progress {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(o.Out), progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Out) }))
	}
	lastLine := time.Now()
	var samples []sample
	for {
		b, err := api.get(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		c := b.Counts
		samples = append(samples, sample{at: time.Now(), done: c.Done()})
		if bar != nil {
			if bar.GetMax64() != c.Total && c.Total > 0 {
				bar.ChangeMax64(c.Total)
			}
			_ = bar.Set64(c.Done())
			bar.Describe(fmt.Sprintf("sent %d  blocked %d  failed %d  installing %d  queued %d", c.Sent, c.Blocked, c.Failed, c.Installing, c.Pending+c.Sending))
		} else if time.Since(lastLine) > 3*time.Second || b.Status == broadcast.StatusCompleted {
			fmt.Fprintf(o.Out, "%-9s recipients %d: sent %d, blocked %d, failed %d, installing %d, queued %d\n",
				b.Status, c.Total, c.Sent, c.Blocked, c.Failed, c.Installing, c.Pending+c.Sending)
			lastLine = time.Now()
		}
		if b.Status == broadcast.StatusCompleted {
			if bar != nil {
				_ = bar.Finish()
			}
			return b, samples, nil
		}
		if err := procs.exited(); err != nil {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("broadcast %s did not complete: %w (counters %+v)", id, ctx.Err(), c)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func expect(users []teamsim.User) Expected {
	var e Expected
	for _, u := range users {
		if u.UserType == "Guest" {
			continue
		}
		e.Members++
		if u.Blocked || u.Disabled {
			e.Blocked++
		} else {
			e.Deliverable++
		}
	}
	return e
}

// check compares the broadcast's counters with the simulator's ledger and
// population, user by user.
func check(r *Result, sim *teamsim.Sim) []string {
	var p []string
	c, l, e := r.Broadcast.Counts, r.Ledger, r.Expected
	want := func(what string, got, want int64) {
		if got != want {
			p = append(p, fmt.Sprintf("%s: %d, expected %d", what, got, want))
		}
	}
	want("recipients", c.Total, int64(e.Members))
	want("sent", c.Sent, int64(e.Deliverable))
	want("blocked", c.Blocked, int64(e.Blocked))
	want("failed", c.Failed, 0)
	want("left pending", c.Pending+c.Installing+c.Sending, 0)
	want("ledger deliveries", l.Deliveries, int64(r.Broadcasts)*c.Sent)
	want("ledger users delivered", l.DeliveredUsers, c.Sent)
	want("ledger duplicates", l.Duplicates, 0)
	want("ledger Retry-After violations", l.RetryAfterViolations, 0)
	for _, u := range sim.Users(r.Tenant) {
		n := len(sim.UserDeliveries(r.Tenant, u.ID))
		switch {
		case u.UserType == "Guest" || u.Blocked || u.Disabled:
			if n != 0 {
				p = append(p, fmt.Sprintf("user %s (guest, blocked or disabled) got %d messages", u.ID, n))
			}
		case n != r.Broadcasts:
			p = append(p, fmt.Sprintf("user %s got %d messages, expected exactly %d", u.ID, n, r.Broadcasts))
		}
		if len(p) > 20 {
			return append(p, "…")
		}
	}
	return p
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
	fmt.Fprintln(w)
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "OK: every deliverable user got the message exactly once, blocked users are recorded as blocked, nothing is left pending;\n    the services stopped cleanly on SIGTERM and logged no secret.")
		return
	}
	fmt.Fprintln(w, "MISMATCH:")
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  - "+p)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// client talks to the dispatcher's API.
type client struct {
	base string
	http *http.Client
}

func (c *client) waitHealthy(ctx context.Context, within time.Duration, procs *processes) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := c.http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := procs.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the dispatcher did not answer on %s within %s (see its log)", c.base, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *client) create(ctx context.Context, body string) (*broadcast.Broadcast, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/broadcasts", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, http.StatusAccepted)
}

func (c *client) get(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/broadcasts/"+id, nil)
	return c.do(req, http.StatusOK)
}

func (c *client) do(req *http.Request, want int) (*broadcast.Broadcast, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, data)
	}
	var b broadcast.Broadcast
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return &b, nil
}
