// Package bench runs the benchmark scenarios of docs/BENCHMARKS.md: the real
// binaries, real NATS and Redis, and the simulator, through internal/demo,
// and writes their figures as Markdown.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/demo"
)

// Scenario is one benchmark run.
type Scenario struct {
	Name, Goal string
	Options    demo.Options
}

// Scenarios are the runs `make bench` makes; quick shrinks them for a smoke run.
func Scenarios(quick bool) []Scenario {
	n := func(full, small int) int {
		if quick {
			return small
		}
		return full
	}
	return []Scenario{
		{Name: "B1 goodput at the limit, 1 sender", Goal: ">= 97% of the limit, <= 0.5% 429s, 0 violations",
			Options: demo.Options{Users: n(20_000, 2_000), RPS: 500, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 1, Warm: true}},
		{Name: "B1 goodput at the limit, 4 senders", Goal: ">= 97% of the limit, <= 0.5% 429s, 0 violations",
			Options: demo.Options{Users: n(20_000, 2_000), RPS: 500, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 4, Warm: true}},
		{Name: "B1 short run at 50/s, 1 sender", Goal: ">= 97% of the limit",
			Options: demo.Options{Users: n(3_000, 500), RPS: 50, GraphRPS: 30, NotInstalled: 0, Pace: 0.99, Senders: 1, Warm: true}},
		{Name: "B2 raw pipeline, no limits, 1 sender", Goal: "10,000 messages/s",
			Options: demo.Options{Users: n(100_000, 5_000), Unlimited: true, NotInstalled: 0, Senders: 1, Warm: true}},
		{Name: "First broadcast at 50/s, 10% without the app (the demo)", Goal: "as close to 50/s as installs allow",
			Options: demo.Options{Users: n(2_000, 500), RPS: 50, GraphRPS: 30, NotInstalled: 0.1, Blocked: 0.02, Senders: 1}},
	}
}

// Run runs the scenarios and writes the report to out; progress goes to log.
func Run(ctx context.Context, scenarios []Scenario, binDir string, out, log io.Writer) error {
	var rows []string
	for _, sc := range scenarios {
		o := sc.Options
		o.BinDir, o.Out, o.Timeout = binDir, log, 30*time.Minute
		o.NATSURL, o.RedisURL = os.Getenv("NATS_URL"), os.Getenv("REDIS_URL")
		fmt.Fprintf(log, "\n== %s\n", sc.Name)
		res, err := demo.Run(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		demo.Print(log, res)
		rows = append(rows, row(sc, res))
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "# Benchmarks\n\nWritten by `make bench` (`bin/bench`) on %s: %s, %d CPUs, %s, %s.\n"+
		"Each run starts the real binaries as processes, an embedded NATS JetStream server (file storage), a redis-server and the simulator on this machine.\n"+
		"Runs marked *warm* first send a broadcast that installs the app and fills the conversation cache, then measure a second broadcast to the same users.\n"+
		"Steady rate is the delivery rate between 10%% and 90%% of the measured broadcast; 429s and violations are the simulator's ledger over the whole run.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version())
	fmt.Fprintln(out, "| scenario | recipients | limit (req/s) | senders | elapsed | steady rate | of the limit | 429s / requests | violations | duplicates | goal |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Fprintln(out, strings.Join(rows, "\n"))
	return nil
}

func row(sc Scenario, r *demo.Result) string {
	l := r.Ledger
	var requests int64
	for _, n := range l.Requests {
		requests += n
	}
	limit, share := "none", "–"
	if !sc.Options.Unlimited {
		limit = fmt.Sprint(sc.Options.RPS)
		share = fmt.Sprintf("%.1f%%", 100*r.SteadyRate/float64(sc.Options.RPS))
	}
	name := sc.Name
	if sc.Options.Warm {
		name += " (warm)"
	}
	status := ""
	if len(r.Problems) > 0 {
		status = " **MISMATCH: " + strings.Join(r.Problems, "; ") + "**"
	}
	return fmt.Sprintf("| %s%s | %d | %s | %d | %s | %.0f/s | %s | %d / %d (%.2f%%) | %d | %d | %s |",
		name, status, r.Broadcast.Counts.Total, limit, r.Senders, r.Elapsed.Round(100*time.Millisecond), r.SteadyRate, share,
		l.Throttled, requests, 100*float64(l.Throttled)/float64(max(requests, 1)), l.RetryAfterViolations, l.Duplicates, sc.Goal)
}
