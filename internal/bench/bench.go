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
)

// Scenario is one benchmark run.
type Scenario struct {
	ID         string // B1…B6, or demo; what -run selects
	Name, Goal string
	Options    demo.Options
	// Cleanup removes the run's work directory afterwards (its stream and
	// Redis are large and of no further use).
	Cleanup bool
}

// Scenarios are the runs `make bench` makes; quick shrinks them for a smoke run.
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
	b1 := demo.Options{Users: n(20_000, 2_000), RPS: 500, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 1, Warm: true}
	b5 := b1
	b5.Urgent, b5.UrgentAt = 20, 0.3
	b6 := b1
	b6.Users, b6.NotInstalled = n(20_000, 1_000), 0.3
	return []Scenario{
		{ID: "B1", Name: "B1 goodput at the limit, 1 sender", Goal: ">= 97% of the limit, <= 0.5% 429s, 0 violations", Options: b1},
		{ID: "B1", Name: "B1 goodput at the limit, 4 senders", Goal: ">= 97% of the limit, <= 0.5% 429s, 0 violations",
			Options: demo.Options{Users: n(20_000, 2_000), RPS: 500, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 4, Warm: true}},
		{ID: "B1", Name: "B1 short run at 50/s, 1 sender", Goal: ">= 97% of the limit",
			Options: demo.Options{Users: n(3_000, 500), RPS: 50, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 1, Warm: true}},
		{ID: "B2", Name: "B2 raw pipeline, no limits, 1 sender", Goal: "10,000 messages/s",
			Options: demo.Options{Users: n(100_000, 5_000), Unlimited: true, NotInstalled: 0, Senders: 1, Warm: true, Profile: profile}},
		{ID: "B3", Name: "B3 expansion of an all-users audience, dispatcher only", Goal: "enqueued <= 30 s, dispatcher peak RSS <= 150 MB",
			Options: demo.Options{Users: n(1_000_000, 100_000), Unlimited: true, NotInstalled: 0, EnqueueOnly: true}, Cleanup: true},
		{ID: "B4", Name: fmt.Sprintf("B4 %d tenants of %d users at once, 1 sender", n(20, 5), n(5_000, 300)), Goal: "every tenant >= 95% of its limit",
			// 97%: a thousand requests a second for 20 tenants on 2 cores wake
			// late often enough that 99%'s 10 ms of slack per second costs
			// a 429 every dozen seconds per tenant (docs/BENCHMARKS.md).
			Options: demo.Options{Tenants: n(20, 5), Users: n(5_000, 300), RPS: 50, GraphRPS: 30, NotInstalled: 0, Pace: 0.97, Senders: 1, Warm: true}},
		{ID: "B5", Name: "B5 fairness: an urgent 20-user notice at 30% of B1's broadcast", Goal: "the notice completes <= 5 s after its create", Options: b5},
		{ID: "B6", Name: "B6 installs alongside sends: B1 with 30% without the app", Goal: "goodput within 3% of B1's", Options: b6},
		{ID: "demo", Name: "First broadcast at 50/s, 10% without the app (the demo)", Goal: "as close to 50/s as installs allow",
			Options: demo.Options{Users: n(2_000, 500), RPS: 50, GraphRPS: 30, NotInstalled: 0.1, Blocked: 0.02, Senders: 1}},
	}
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
		work, err := os.MkdirTemp("", "broadcast-bench-"+sc.ID+"-")
		if err != nil {
			return err
		}
		o.WorkDir = work
		fmt.Fprintf(log, "\n== %s\n", sc.Name)
		res, err := demo.Run(ctx, o)
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
		runs = append(runs, run{sc, res})
	}
	writeReport(out, runs)
	return nil
}
