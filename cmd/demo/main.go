// Command demo runs the whole product on this machine against the Teams/Graph
// simulator and sends one announcement to every simulated user: see
// internal/demo. It exits 1 when the outcome does not match the ledger.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func main() { os.Exit(run()) }

func run() int {
	exe, _ := os.Executable()
	o := demo.Options{Out: os.Stdout, NATSURL: os.Getenv("NATS_URL"), RedisURL: os.Getenv("REDIS_URL")}
	flag.IntVar(&o.Users, "users", 2000, "users in the simulated tenant")
	flag.Float64Var(&o.NotInstalled, "not-installed", 0.10, "fraction of users without the app installed")
	flag.Float64Var(&o.Blocked, "blocked", 0.02, "fraction of users who blocked the bot")
	flag.IntVar(&o.RPS, "rps", 50, "the tenant's Connector limit (requests/s), enforced by the simulator and used by the senders")
	flag.IntVar(&o.GraphRPS, "graph-rps", 30, "the tenant's Graph installedApps limit (requests/s)")
	flag.DurationVar(&o.Latency, "latency", teamsim.DefaultLatency, "simulated answer latency; 0 = none (no jitter either)")
	flag.DurationVar(&o.LatencyJitter, "jitter", teamsim.DefaultLatencyJitter, "uniform random extra answer latency up to this (default profile: 100ms ±50%)")
	flag.StringVar(&o.BinDir, "bin", filepath.Dir(exe), "directory of the dispatcher, installer and sender binaries")
	flag.StringVar(&o.WorkDir, "work", "", "directory for the services' logs and stores (default: a new temporary one)")
	flag.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up when the broadcast has not completed by then")
	flag.IntVar(&o.Senders, "senders", 1, "sender processes")
	flag.IntVar(&o.Dispatchers, "dispatchers", 1, "dispatcher processes (several: behind a balancer on the API's, the bot's and the console's addresses)")
	flag.IntVar(&o.Installers, "installers", 1, "installer processes")
	flag.Float64Var(&o.Pace, "pace", 1, "share of the simulator's limits the services are configured at (TENANT_RPS, GRAPH_RPS)")
	flag.BoolVar(&o.Unlimited, "unlimited", false, "no limits in the simulator (raw pipeline speed)")
	flag.BoolVar(&o.Warm, "warm", false, "send a warm-up broadcast first (fills the conversation cache), then measure a second one")
	flag.BoolVar(&o.Serve, "serve", false, "after the run, keep everything running until Ctrl-C: sign in to the console and try it")
	e := &o.Engagement
	flag.Float64Var(&e.Read, "read", 0.8, "share of the messages delivered that users read (0: users do nothing)")
	flag.Float64Var(&e.ReceiptsOn, "receipts-on", 0.9, "share of users whose read receipts are on")
	flag.Float64Var(&e.Acknowledge, "acknowledge", 0.6, "share of the messages read whose acknowledge button users click")
	flag.Float64Var(&e.React, "react", 0.1, "share of the messages read users react to")
	flag.Float64Var(&e.Reply, "reply", 0.02, "share of the messages read users answer")
	flag.Float64Var(&e.Duplicate, "duplicate", 0.05, "share of receipts, reactions and replies the simulator posts twice, as Teams may")
	e.ReadDelay, e.ActionDelay = teamsim.Delay{Mean: 5 * time.Second}, teamsim.Delay{Max: 5 * time.Second}
	flag.Func("read-delay", "delay from delivery to read: 30s, 1s..30s or exp:5s (default exp:5s)", func(v string) (err error) {
		e.ReadDelay, err = teamsim.ParseDelay(v)
		return err
	})
	flag.Parse()
	o.NoLatency = o.Latency == 0
	o.Progress = term.IsTerminal(int(os.Stdout.Fd()))
	log, err := logging.New("demo", "warn", "console")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	o.Log = log

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := demo.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	demo.Print(os.Stdout, res)
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}
