// Package bench runs the benchmark scenarios of docs/BENCHMARKS.md: the real
// binaries, real NATS and Redis, and the simulator, through internal/demo,
// and writes their figures as Markdown.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Scenario is one benchmark run.
type Scenario struct {
	ID         string // F1, F2, B1…B6, C1, E1, E2 or demo; what -run selects
	Name, Goal string
	Options    demo.Options
	// Judge says whether a run met the goal, with the figure it judged.
	Judge func(sc Scenario, r *demo.Result) (string, bool)
	// Cleanup removes the run's work directory afterwards (its stream and
	// Redis are large and of no further use).
	Cleanup bool
}

// Scenarios are the runs `make bench` makes; quick shrinks them for a smoke run.
//
// Every run but B2's is at Teams' latency (the simulator's realistic
// profile: answers 100 ms ±50% after the request is judged, a few ms of
// network jitter before, chats ready seconds after an install, a request
// more than 5 ms after a 429 left counted as a violation), and the services
// are configured at the simulator's limits (TENANT_RPS = the limit, as by
// default): what they reach is their own doing.
func Scenarios(quick bool) []Scenario {
	n := func(full, small int) int {
		if quick {
			return small
		}
		return full
	}
	profile := 20 * time.Second
	if quick {
		profile = 2 * time.Second
	}
	steady := func(users, rps, senders int) demo.Options {
		return demo.Options{Users: users, RPS: rps, GraphRPS: 30, Pace: 1, Senders: senders, Warm: true}
	}
	const steadyGoal = ">= 97% of the limit, <= 0.1% 429s, 0 violations"
	first := func(users, rps int) demo.Options {
		return demo.Options{Users: users, RPS: rps, GraphRPS: 30, Pace: 1, Senders: 1}
	}
	b5 := steady(n(20_000, 2_000), 500, 1)
	b5.Urgent, b5.UrgentAt = 20, 0.3
	b6 := steady(n(20_000, 1_000), 500, 1)
	b6.NotInstalled = 0.3
	b2 := demo.Options{Users: n(100_000, 5_000), Unlimited: true, NoLatency: true, Senders: 1, Warm: true, Profile: profile}
	e2 := b2
	e2.Engagement = teamsim.Engagement{Read: 0.8, ReceiptsOn: 0.9, Acknowledge: 0.5, React: 0.1, Reply: 0.02,
		ReadDelay: teamsim.Delay{Max: 2 * time.Second}, ActionDelay: teamsim.Delay{Max: time.Second}, Concurrency: 64}
	e1 := demo.Options{Users: n(2_000, 300), Unlimited: true, NoLatency: true, Senders: 1,
		EndpointLoad: demo.EndpointLoad{Rate: 500, Duration: time.Duration(n(30, 5)) * time.Second}}
	c1 := steady(n(3_000, 500), 50, 2)
	c1kill := c1
	c1kill.KillAt = 0.9
	return []Scenario{
		{ID: "F1", Name: fmt.Sprintf("F1 first broadcast at 50/s: %d users who all have the app, nothing cached, Graph 30/s", n(2_000, 500)),
			Goal: ">= 30 messages/s (optimum 32.5)", Options: first(n(2_000, 500), 50), Judge: overallAtLeast(30)},
		{ID: "F2", Name: fmt.Sprintf("F2 first broadcast at 500/s: %d users who all have the app, nothing cached, Graph 30/s", n(5_000, 1_000)),
			Goal: ">= 200 messages/s (optimum 265)", Options: first(n(5_000, 1_000), 500), Judge: overallAtLeast(200)},
		{ID: "B1", Name: "B1 steady state at 50/s, 1 sender", Goal: steadyGoal, Options: steady(n(3_000, 500), 50, 1), Judge: atTheLimit},
		{ID: "B1", Name: "B1 steady state at 50/s, 4 senders", Goal: steadyGoal, Options: steady(n(3_000, 500), 50, 4), Judge: atTheLimit},
		{ID: "B1", Name: "B1 steady state at 500/s, 1 sender", Goal: steadyGoal, Options: steady(n(20_000, 2_000), 500, 1), Judge: atTheLimit},
		{ID: "B1", Name: "B1 steady state at 500/s, 4 senders", Goal: steadyGoal, Options: steady(n(20_000, 2_000), 500, 4), Judge: atTheLimit},
		{ID: "B2", Name: "B2 raw pipeline, no limits, no latency, 1 sender", Goal: "10,000 messages/s", Options: b2},
		{ID: "B3", Name: "B3 expansion of an all-users audience, dispatcher only", Goal: "enqueued <= 30 s, dispatcher peak RSS <= 150 MB",
			Options: demo.Options{Users: n(1_000_000, 100_000), Unlimited: true, EnqueueOnly: true}, Cleanup: true},
		{ID: "B4", Name: fmt.Sprintf("B4 %d tenants of %d users at once, 1 sender", n(20, 5), n(5_000, 300)), Goal: "every tenant >= 95% of its limit",
			Options: demo.Options{Tenants: n(20, 5), Users: n(5_000, 300), RPS: 50, GraphRPS: 30, Pace: 1, Senders: 1, Warm: true}, Judge: everyTenant(95)},
		{ID: "B5", Name: "B5 fairness: an urgent 20-user notice at 30% of a 500/s broadcast", Goal: "the notice completes <= 5 s after its create", Options: b5, Judge: urgentWithin(5 * time.Second)},
		{ID: "B6", Name: "B6 installs alongside sends: B1 at 500/s with 30% without the app", Goal: "goodput within 3% of B1's", Options: b6},
		{ID: "C1", Name: "C1 crash tail: baseline, 2 senders at 50/s, none killed", Goal: "(the baseline of the next row)", Options: c1},
		{ID: "C1", Name: "C1 crash tail: 2 senders at 50/s, one killed (SIGKILL) at 90%", Goal: "completes <= 5 s after the baseline", Options: c1kill},
		{ID: "E1", Name: "E1 the bot endpoint under 500 engagement activities/s (receipts, reactions, acknowledges, replies; signed)",
			Goal: "p99 < 100 ms", Options: e1, Judge: endpointP99(100 * time.Millisecond)},
		{ID: "E2", Name: "E2 the cost of engagement: B2 with users reading (80%), acknowledging, reacting and replying",
			Goal: "(CPU per 1,000 messages against B2's)", Options: e2},
		{ID: "demo", Name: "First broadcast at 50/s, 10% without the app (the demo)", Goal: "as close to 32.5/s as installs allow",
			Options: demo.Options{Users: n(2_000, 500), RPS: 50, GraphRPS: 30, Pace: 1, NotInstalled: 0.1, Blocked: 0.02, Senders: 1}},
	}
}

// overallAtLeast judges the rate from the create to the completion.
func overallAtLeast(goal float64) func(Scenario, *demo.Result) (string, bool) {
	return func(_ Scenario, r *demo.Result) (string, bool) {
		rate := overall(r)
		return fmt.Sprintf("%.1f/s from create to completion", rate), rate >= goal
	}
}

func overall(r *demo.Result) float64 {
	return float64(r.Broadcast.Counts.Sent) / max(r.Elapsed.Seconds(), 1e-9)
}

// atTheLimit judges the steady state by the measured broadcast: its
// steady rate and its 429s (a warm-up's are a first broadcast's), and the
// Retry-After violations of the whole run.
func atTheLimit(sc Scenario, r *demo.Result) (string, bool) {
	share := r.SteadyRate / float64(sc.Options.RPS)
	n := requests(r.Ledger) - requests(r.LedgerBefore)
	throttled := float64(r.Ledger.Throttled-r.LedgerBefore.Throttled) / float64(max(n, 1))
	return fmt.Sprintf("%.1f%%, %.2f%% 429s in the measured broadcast, %d violations", 100*share, 100*throttled, r.Ledger.RetryAfterViolations),
		share >= 0.97 && throttled <= 0.001 && r.Ledger.RetryAfterViolations == 0
}

func everyTenant(pct float64) func(Scenario, *demo.Result) (string, bool) {
	return func(sc Scenario, r *demo.Result) (string, bool) {
		shares := tenantShares(r, sc.Options.RPS)
		if len(shares) == 0 {
			return "no tenant", false
		}
		return fmt.Sprintf("min %.1f%%", shares[0]), shares[0] >= pct
	}
}

func urgentWithin(d time.Duration) func(Scenario, *demo.Result) (string, bool) {
	return func(_ Scenario, r *demo.Result) (string, bool) {
		if r.Urgent == nil {
			return "no notice", false
		}
		return r.Urgent.Elapsed.Round(10 * time.Millisecond).String(), r.Urgent.Elapsed <= d
	}
}

// endpointP99 judges the bot endpoint's p99 latency under load.
func endpointP99(goal time.Duration) func(Scenario, *demo.Result) (string, bool) {
	return func(_ Scenario, r *demo.Result) (string, bool) {
		if r.Endpoint == nil {
			return "no load", false
		}
		return "p99 " + r.Endpoint.P99.Round(100*time.Microsecond).String(), r.Endpoint.P99 < goal
	}
}

func requests(l teamsim.Ledger) int64 {
	var n int64
	for _, v := range l.Requests {
		n += v
	}
	return n
}

// Select returns the scenarios whose ID matches the regular expression
// pattern (all of them when it is empty).
func Select(scenarios []Scenario, pattern string) ([]Scenario, error) {
	if pattern == "" {
		return scenarios, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("-run: %w", err)
	}
	var out []Scenario
	for _, sc := range scenarios {
		if re.MatchString(sc.ID) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-run %q matches no scenario", pattern)
	}
	return out, nil
}

// Run runs the scenarios and writes the report to out; progress goes to log.
func Run(ctx context.Context, scenarios []Scenario, binDir string, out, log io.Writer) error {
	var runs []run
	for _, sc := range scenarios {
		o := sc.Options
		o.BinDir, o.Out, o.Timeout = binDir, log, 30*time.Minute
		o.NATSURL, o.RedisURL = os.Getenv("NATS_URL"), os.Getenv("REDIS_URL")
		// NATS's CPU is the product's; the simulator's, in this process, is not.
		o.NATSProcess = true
		work, err := os.MkdirTemp("", "broadcast-bench-"+sc.ID+"-")
		if err != nil {
			return err
		}
		o.WorkDir = work
		fmt.Fprintf(log, "\n== %s\n", sc.Name)
		before := sampleHost()
		res, err := demo.Run(ctx, o)
		host, hostOK := loadBetween(before, sampleHost())
		if err != nil {
			return fmt.Errorf("%s: %w (work directory %s)", sc.Name, err, work)
		}
		demo.Print(log, res)
		if sc.Cleanup {
			if err := os.RemoveAll(work); err != nil {
				return fmt.Errorf("%s: clean up: %w", sc.Name, err)
			}
			fmt.Fprintf(log, "removed the work directory %s\n", work)
		}
		runs = append(runs, run{sc: sc, res: res, host: host, hostOK: hostOK})
	}
	writeReport(out, runs)
	return nil
}
