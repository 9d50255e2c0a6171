// Command dispatcher serves the broadcast API and expands each broadcast's
// audience into jobs on NATS JetStream. Configuration comes from the
// environment; see the README.
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/service"
)

func main() { os.Exit(service.Main("dispatcher", config.LoadDispatcher, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Dispatcher) error {
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, Logger: env.Log})
	d := dispatch.New(dispatch.Config{Tenants: cfg.Tenants}, env.Store, env.Queue,
		func(tenant string) (dispatch.Users, error) { return graphs.For(tenant) }, env.Log.Named("expand"))
	srv := api.NewHTTPServer(cfg.HTTPAddr, api.New(d, env.Queue, env.Store, env.Log.Named("api")))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	expanded := make(chan error, 1)
	go func() { expanded <- d.Run(ctx) }()
	served := make(chan error, 1)
	go func() {
		env.Log.Info("listening", zap.String("addr", cfg.HTTPAddr))
		served <- srv.ListenAndServe()
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-served: // could not listen
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		env.Log.Warn("http shutdown", zap.Error(serr))
	}
	<-expanded
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
