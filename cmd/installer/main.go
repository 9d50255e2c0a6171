// Command installer installs the bot for recipients without a known
// conversation, through Microsoft Graph, and hands them to the senders.
// Configuration comes from the environment; see the README.
package main

import (
	"context"
	"os"
	"time"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/install"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/service"
)

func main() { os.Exit(service.Main("installer", config.LoadInstaller, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Installer) error {
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, Logger: env.Log})
	in := install.New(install.Config{TeamsAppID: cfg.TeamsAppID}, env.Store, env.Queue,
		func(tenant string) (install.Graph, error) { return graphs.For(tenant) }, env.Log)
	return env.Work(ctx, queue.ConsumerInstaller, in.Handle, cfg.Concurrency, 20*time.Second)
}
