// Command chaos runs the crash-and-fault suite (internal/chaos): each
// scenario sends a broadcast to every simulated user while it kills
// services, stops NATS or Redis, storms faults, or freezes NATS and Redis
// while API calls arrive, then checks the outcome against the simulator's
// ledger. It prints a summary per scenario (and
// writes it as Markdown with -md) and exits 1 when a check failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/broadcast-dev/broadcast/internal/chaos"
	"github.com/broadcast-dev/broadcast/internal/logging"
)

func main() { os.Exit(run()) }

func run() int {
	exe, _ := os.Executable()
	var o chaos.Options
	var names, md, work string
	var seed uint64
	flag.IntVar(&o.Users, "users", 20000, "simulated users: the broadcast's audience")
	flag.IntVar(&o.Senders, "senders", 3, "sender processes")
	flag.IntVar(&o.Dispatchers, "dispatchers", 0, "dispatcher processes (0: the scenario's: 3 for kill, nats-node and the redis failovers, else 1)")
	flag.IntVar(&o.Installers, "installers", 0, "installer processes (0: the scenario's: 2 for kill, nats-node and the redis failovers, else 1)")
	flag.IntVar(&o.RPS, "rps", 300, "the tenant's Connector limit (requests/s); the senders pace at 95% of it")
	flag.IntVar(&o.Disruptions, "disruptions", 0, "kills, outages, 429 bursts or stalls per scenario (0: each scenario's default: 12 kills, 2 outages, 10 bursts, 3 stalls)")
	flag.StringVar(&names, "scenarios", "kill,nats-restart,nats-node,redis-restart,redis-sentinel,redis-cluster,storm,stall", "scenarios to run, in order")
	flag.StringVar(&o.BinDir, "bin", filepath.Dir(exe), "directory of the dispatcher, installer and sender binaries")
	flag.StringVar(&work, "work", "", "directory for each scenario's logs and stores (default: new temporary ones)")
	flag.DurationVar(&o.Timeout, "timeout", 20*time.Minute, "per scenario: give up when the broadcast has not completed by then")
	flag.Uint64Var(&seed, "seed", 0, "seed of the random moments and victims (0: from the clock; each scenario prints its own)")
	flag.StringVar(&md, "md", "", "also write the summary table to this file (Markdown)")
	flag.Parse()
	log, err := logging.New("chaos", "warn", "console")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	o.Log, o.Out = log, os.Stdout

	var scenarios []chaos.Scenario
	for _, n := range strings.Split(names, ",") {
		s, ok := chaos.Lookup(strings.TrimSpace(n))
		if !ok {
			fmt.Fprintf(os.Stderr, "chaos: -scenarios: unknown scenario %q\n", n)
			return 2
		}
		scenarios = append(scenarios, s)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var results []*chaos.Result
	failed := false
	for i, s := range scenarios {
		so := o
		if seed != 0 {
			so.Seed = seed + uint64(i)
		}
		if work != "" {
			so.WorkDir = filepath.Join(work, s.Name)
		}
		res, err := chaos.Run(ctx, s, so)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "chaos: interrupted")
			return 1
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: %s: %v\n", s.Name, err)
			return 1
		}
		results = append(results, res)
		failed = failed || len(res.Problems) > 0
		fmt.Println()
		chaos.Print(os.Stdout, []*chaos.Result{res})
	}
	fmt.Printf("\nsummary (%d users, %d senders, Connector limit %d/s):\n\n", o.Users, o.Senders, o.RPS)
	chaos.Print(os.Stdout, results)
	if md != "" {
		if err := os.WriteFile(md, []byte(chaos.Markdown(results)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}
