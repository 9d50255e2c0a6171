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

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/queue"
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
	s := send.New(send.Config{ProcessID: processID(), MaxRetries: cfg.MaxRetries, MaxThrottles: cfg.MaxThrottles, CallTimeout: cfg.HTTPTimeout},
		env.Store, env.Queue, connector, gates, env.Log)
	// Send jobs are fetched only when their tenant can take them: not
	// paused, its shared budget not booked far ahead.
	err = env.Schedule(ctx, queue.SchedulerConfig{Stage: broadcast.StageSend, Concurrency: cfg.Concurrency,
		Budgets: env.Store, RPS: cfg.TenantRPS, Grace: cfg.HTTPTimeout + 5*time.Second}, s.Handle)
	gates.LogStats()
	return err
}

func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}
