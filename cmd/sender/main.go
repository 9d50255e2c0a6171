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
	gates := ratelimit.NewTenants(cfg.TenantRPS, env.Store)
	s := send.New(send.Config{ProcessID: processID(), MaxRetries: cfg.MaxRetries, CallTimeout: cfg.HTTPTimeout},
		env.Store, env.Queue, connector, gates, env.Log)
	return env.Work(ctx, queue.ConsumerSender, s.Handle, cfg.Concurrency, cfg.HTTPTimeout+5*time.Second)
}

func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}
