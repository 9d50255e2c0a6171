// Command installer installs the bot for recipients without a known
// conversation, through Microsoft Graph (or the Bot Connector when Graph is
// saturated), and hands them to the senders. Configuration comes from the
// environment; see the README.
package main

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/install"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/service"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

func main() { os.Exit(service.Main("installer", config.LoadInstaller, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Installer) error {
	httpClient := &http.Client{Timeout: cfg.HTTPTimeout, Transport: teams.Transport(cfg.Concurrency)}
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, HTTP: httpClient, Logger: env.Log})
	connector, err := teams.NewBotClient(cfg.BotServiceURL, cfg.LoginURL, cfg.BotAppID, cfg.BotAppPassword, httpClient)
	if err != nil {
		return err
	}
	in := install.New(install.Config{TeamsAppID: cfg.TeamsAppID, Connector: connector, Gates: ratelimit.NewTenants(cfg.TenantRPS, env.Store, ratelimit.WithLogger(env.Log.Named("ratelimit")), ratelimit.WithAhead(install.ConnectorAhead)),
		ConversationWait: cfg.ConversationWait, GraphRPS: cfg.GraphRPS, Concurrency: cfg.Concurrency},
		env.Store, env.Queue, func(tenant string) (install.Graph, error) { return graphs.For(tenant) }, env.Log)
	return env.Schedule(ctx, queue.SchedulerConfig{Stage: broadcast.StageInstall, Concurrency: cfg.Concurrency, Limit: in.Limit,
		Grace: 20 * time.Second, DeadLetter: in.DeadLetter}, in.Handle)
}
