// Command sender posts each recipient's message through the Bot Framework
// Connector at the tenant's rate and records the outcome.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
	"github.com/broadcast-dev/broadcast/internal/token"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := config.LoadSender(config.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sender: configuration:\n%v\n", err)
		return 2
	}
	log, err := logging.New("sender", cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sender: %v\n", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	log.Info("starting", append(cfg.Fields(), zap.String("bot_service_url", cfg.BotServiceURL),
		zap.Float64("tenant_rps", cfg.TenantRPS), zap.Int("concurrency", cfg.Concurrency))...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Connect(ctx, cfg.RedisURL)
	if err != nil {
		log.Error("redis", zap.Error(err))
		return 1
	}
	defer rdb.Close()
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "sender", log)
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
	cons, err := q.Consumer(ctx, queue.ConsumerSender)
	if err != nil {
		log.Error("jetstream", zap.Error(err))
		return 1
	}

	httpClient := &http.Client{Timeout: cfg.HTTPTimeout, Transport: teams.Transport(cfg.Concurrency)}
	tokens, err := token.NewSource(token.Config{LoginURL: cfg.LoginURL, Tenant: token.ConnectorTenant,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, Scope: token.ScopeConnector, HTTP: httpClient})
	if err != nil {
		log.Error("token", zap.Error(err))
		return 1
	}
	connector, err := teams.NewClient(cfg.BotServiceURL, tokens, httpClient, cfg.BotAppID)
	if err != nil {
		log.Error("connector", zap.Error(err))
		return 1
	}
	st := store.New(rdb)
	s := send.New(send.Config{ProcessID: processID(), MaxRetries: cfg.MaxRetries, CallTimeout: cfg.HTTPTimeout},
		st, q, connector, ratelimit.NewTenants(cfg.TenantRPS, st, 200*time.Millisecond), log)
	w := &queue.Worker{Consumer: cons, Handler: s.Handle, Concurrency: cfg.Concurrency, Grace: cfg.HTTPTimeout + 5*time.Second, Log: log}
	log.Info("working")
	if err := w.Run(ctx); err != nil {
		log.Error("worker", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}
