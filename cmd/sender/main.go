// Command sender posts each recipient's message through the Bot Framework
// Connector at the tenant's rate and records the outcome. Configuration
// comes from the environment; see the README.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/service"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

func main() { os.Exit(service.Main("sender", config.LoadSender, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Sender) error {
	httpClient := &http.Client{Timeout: cfg.HTTPTimeout, Transport: teams.Transport(cfg.Concurrency)}
	connector, err := teams.NewBotClient(cfg.BotServiceURL, cfg.LoginURL, cfg.BotAppID, cfg.BotAppPassword, httpClient)
	if err != nil {
		return err
	}
	gates := ratelimit.NewTenants(cfg.TenantRPS, env.Store, ratelimit.WithLogger(env.Log.Named("ratelimit")))
	s := send.New(send.Config{ProcessID: processID(), MaxRetries: cfg.MaxRetries, CallTimeout: cfg.HTTPTimeout},
		env.Store, env.Queue, connector, gates, env.Log)
	sched := send.NewScheduler(send.SchedulerConfig{Concurrency: cfg.Concurrency, RPS: cfg.TenantRPS, Grace: cfg.HTTPTimeout + 5*time.Second},
		env.Queue, env.Store, env.Store, s.Handle, env.Log.Named("scheduler"))
	env.Log.Info("working", zap.Int("concurrency_per_tenant", cfg.Concurrency))
	err = sched.Run(ctx)
	gates.LogStats(env.Log)
	return err
}

func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}
