// Command installer installs the bot for recipients without a known
// conversation, through Microsoft Graph, and hands them to the senders.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/install"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := config.LoadInstaller(config.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "installer: configuration:\n%v\n", err)
		return 2
	}
	log, err := logging.New("installer", cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "installer: %v\n", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	log.Info("starting", append(cfg.Fields(), zap.String("graph_url", cfg.GraphURL), zap.String("teams_app_id", cfg.TeamsAppID),
		zap.Float64("graph_rps", cfg.GraphRPS), zap.Int("concurrency", cfg.Concurrency))...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Connect(ctx, cfg.RedisURL)
	if err != nil {
		log.Error("redis", zap.Error(err))
		return 1
	}
	defer rdb.Close()
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "installer", log)
	if err != nil {
		log.Error("nats", zap.Error(err))
		return 1
	}
	defer nc.Close()
	q := queue.New(js, "")
	if err := q.Setup(ctx); err != nil {
		log.Error("jetstream", zap.Error(err))
		return 1
	}
	cons, err := q.Consumer(ctx, queue.ConsumerInstaller)
	if err != nil {
		log.Error("jetstream", zap.Error(err))
		return 1
	}

	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, Logger: log})
	in := install.New(install.Config{TeamsAppID: cfg.TeamsAppID}, store.New(rdb), q,
		func(tenant string) (install.Graph, error) { return graphs.For(tenant) }, log)
	w := &queue.Worker{Consumer: cons, Handler: in.Handle, Concurrency: cfg.Concurrency, Grace: 20 * time.Second, Log: log}
	log.Info("working")
	if err := w.Run(ctx); err != nil {
		log.Error("worker", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}
