// Command dispatcher serves the broadcast API and expands each broadcast's
// audience into jobs on NATS JetStream. Configuration comes from the
// environment; see the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := config.LoadDispatcher(config.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dispatcher: configuration:\n%v\n", err)
		return 2
	}
	log, err := logging.New("dispatcher", cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dispatcher: %v\n", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	log.Info("starting", append(cfg.Fields(), zap.String("graph_url", cfg.GraphURL), zap.String("http_addr", cfg.HTTPAddr))...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Connect(ctx, cfg.RedisURL)
	if err != nil {
		log.Error("redis", zap.Error(err))
		return 1
	}
	defer rdb.Close()
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "dispatcher", log)
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

	st := store.New(rdb)
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, Logger: log})
	d := dispatch.New(dispatch.Config{Tenants: cfg.Tenants}, st, q,
		func(tenant string) (dispatch.Users, error) { return graphs.For(tenant) }, log.Named("expand"))
	srv := api.NewHTTPServer(cfg.HTTPAddr, api.New(d, st, log.Named("api")))

	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	serveErr := make(chan error, 1)
	go func() {
		log.Info("listening", zap.String("addr", cfg.HTTPAddr))
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	code := 0
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		log.Error("http server", zap.Error(err))
		code = 1
		stop()
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	<-done
	log.Info("stopped")
	return code
}
