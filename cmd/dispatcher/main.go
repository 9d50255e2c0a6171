// Command dispatcher serves the broadcast API and expands each broadcast's
// audience into jobs on NATS JetStream. Configuration comes from the
// environment; see the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/console"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/service"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

func main() { os.Exit(service.Main("dispatcher", config.LoadDispatcher, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Dispatcher) error {
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: cfg.LoginURL, GraphURL: cfg.GraphURL,
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: cfg.GraphRPS, Logger: env.Log})
	approval := dispatch.Approval{Policy: cfg.Approval.Policy, Notify: cfg.Approval.Notify, ConsoleURL: cfg.Approval.ConsoleURL}
	d := dispatch.New(dispatch.Config{Tenants: cfg.Tenants, Approval: approval}, env.Store, env.Queue,
		func(tenant string) (dispatch.Users, error) { return graphs.For(tenant) }, env.Log.Named("expand"))
	keys, err := auth.NewKeys(cfg.APIKeys)
	if err != nil {
		return fmt.Errorf("API keys: %w", err)
	}
	handler := api.New(d, env.Queue, env.Store, api.Auth{Keys: keys, AuditMaxEntries: cfg.AuditMaxEntries}, env.Log.Named("api"))
	handler.SetServiceHosts(cfg.Bot.ServiceHosts)
	srv := api.NewHTTPServer(cfg.HTTPAddr, metrics.InstrumentHTTP(handler, handler.Route))
	botSrv, err := botServer(cfg, env)
	if err != nil {
		return err
	}
	con, conSrv, err := consoleServer(cfg, env, handler)
	if err != nil {
		return err
	}

	// Listen before anything runs: a port taken fails the start at once,
	// and the log names the port bound (an address ending in :0 picks one).
	ln, err := listen(env.Log, "listening", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	var botLn, conLn net.Listener
	if botSrv != nil {
		if botLn, err = listen(env.Log, "bot endpoint listening", cfg.Bot.Addr, zap.String("path", bot.Path)); err != nil {
			ln.Close()
			return err
		}
	}
	if conSrv != nil {
		if conLn, err = listen(env.Log, "console listening", cfg.Console.Addr, zap.String("url", cfg.Console.URL)); err != nil {
			ln.Close()
			if botLn != nil {
				botLn.Close()
			}
			return err
		}
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	expanded := make(chan error, 1)
	go func() { expanded <- d.Run(ctx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	botServed := make(chan error, 1)
	if botSrv != nil {
		go func() { botServed <- botSrv.Serve(botLn) }()
	}
	conServed := make(chan error, 1)
	if conSrv != nil {
		go func() { conServed <- conSrv.Serve(conLn) }()
	}

	select {
	case <-ctx.Done():
	case err = <-served: // the listener failed
	case err = <-botServed:
	case err = <-conServed:
	}
	// Shutdown: the expansions stop at once (each resumes from its saved
	// cursor, here or in another dispatcher); requests in flight get
	// httpGrace to finish (a broadcast created meanwhile is registered
	// before it is recorded, so the next dispatcher expands it).
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		env.Log.Warn("http shutdown: requests cut short", zap.Error(serr))
	}
	if conSrv != nil {
		con.Close() // ends the live streams, which Shutdown would wait for
		if serr := conSrv.Shutdown(sctx); serr != nil {
			env.Log.Warn("console shutdown: requests cut short", zap.Error(serr))
		}
	}
	if botSrv != nil {
		if serr := botSrv.Shutdown(sctx); serr != nil {
			env.Log.Warn("bot endpoint shutdown: requests cut short", zap.Error(serr))
		}
	}
	select {
	case <-expanded:
	case <-time.After(expandGrace):
		return fmt.Errorf("expansions did not stop within %s of the shutdown", expandGrace)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// botServer returns the bot messaging endpoint's server, or nil when
// BOT_ADDR is not set.
func botServer(cfg config.Dispatcher, env *service.Env) (*http.Server, error) {
	if cfg.Bot.Addr == "" {
		return nil, nil
	}
	v, err := botauth.New(botauth.Config{OpenIDMetadataURL: cfg.Bot.OpenIDMetadataURL, JWKSURL: cfg.Bot.JWKSURL,
		Issuer: cfg.Bot.TokenIssuer, AppID: cfg.BotAppID, Logger: env.Log.Named("botauth")})
	if err != nil {
		return nil, err
	}
	bcfg := bot.Config{AppID: cfg.BotAppID, Tenants: cfg.Tenants, Hosts: cfg.Bot.ServiceHosts, AutoReply: cfg.Bot.AutoReply}
	if cfg.Bot.AutoReply != "" {
		connector, err := teams.NewBotClient(cfg.Bot.ServiceURL, cfg.LoginURL, cfg.BotAppID, cfg.BotAppPassword,
			&http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("auto-reply: %w", err)
		}
		bcfg.Replier = connector
	}
	h := bot.New(bcfg, v, env.Store, env.Log.Named("bot"))
	return bot.NewHTTPServer(cfg.Bot.Addr, h), nil
}

// consoleServer returns the web console and its server, or nils when
// CONSOLE_ADDR is not set.
func consoleServer(cfg config.Dispatcher, env *service.Env, a *api.Server) (*console.Console, *http.Server, error) {
	k := cfg.Console
	if k.Addr == "" {
		return nil, nil, nil
	}
	c, err := console.New(console.Config{PublicURL: k.URL, Issuer: k.Issuer, ClientID: k.ClientID, ClientSecret: k.ClientSecret,
		InsecureCookies: k.InsecureCookies, SessionTTL: k.SessionTTL, Tenant: cfg.Tenants[0]}, a, env.Store, env.Log.Named("console"))
	if err != nil {
		return nil, nil, err
	}
	return c, console.NewHTTPServer(k.Addr, c), nil
}

// httpGrace bounds the requests in flight at shutdown, expandGrace the
// expansions' stop after it.
const (
	httpGrace   = 10 * time.Second
	expandGrace = 15 * time.Second
)

// listen listens on addr and logs msg with the address bound.
func listen(log *zap.Logger, msg, addr string, fields ...zap.Field) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", msg, err)
	}
	log.Info(msg, append([]zap.Field{zap.String("addr", ln.Addr().String())}, fields...)...)
	return ln, nil
}
