// Command teamsim runs the Teams, Graph and token-endpoint simulator on an
// address and prints the base URLs to give the other services.
//
// Every flag has an environment fallback (SIM_USERS, SIM_INSTALLED, ...,
// BOT_APP_ID, BOT_APP_PASSWORD, TEAMS_APP_ID, SIM_ADDR); a flag given on the
// command line wins. `teamsim -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/logging"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

const shutdownGrace = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options is the binary's configuration: the simulator's plus where to
// listen and how to log.
type options struct {
	sim                  teamsim.Config
	addr                 string
	logLevel, logFormat  string
	tenants, timeZones   string
	latency, jitter, ttl time.Duration
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "teamsim:", err)
		return 2
	}
	log, err := logging.New("teamsim", o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "teamsim:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	o.sim.Logger = log

	sim, err := teamsim.New(o.sim)
	if err != nil {
		log.Error("invalid configuration", zap.Error(err))
		return 2
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("listen", zap.String("addr", o.addr), zap.Error(err))
		return 1
	}
	base, hosts := advertised(o.sim.PublicURL, ln.Addr())
	log.Info("starting", zap.String("addr", ln.Addr().String()), zap.Strings("tenants", o.sim.Tenants),
		zap.Int("users_per_tenant", o.sim.UsersPerTenant), zap.Float64("installed", o.sim.InstalledFraction),
		zap.Float64("blocked", o.sim.BlockedFraction), zap.Float64("disabled", o.sim.DisabledFraction),
		zap.Int("connector_rps", o.sim.ConnectorRPS), zap.Int("graph_rps", o.sim.GraphRPS),
		zap.Bool("conversation_limits", o.sim.ConversationLimits), zap.Float64("error_rate", o.sim.ErrorRate),
		zap.Float64("precondition_rate", o.sim.PreconditionRate), zap.Duration("latency", o.sim.Latency),
		zap.Duration("latency_jitter", o.sim.LatencyJitter), zap.Duration("network_jitter", o.sim.NetworkJitter),
		zap.Duration("retry_after_tolerance", o.sim.RetryAfterTolerance), zap.Duration("chat_ready_delay", o.sim.ChatReadyDelay),
		zap.Duration("chat_ready_jitter", o.sim.ChatReadyJitter), zap.Duration("token_ttl", o.sim.TokenTTL),
		zap.Int64("seed", o.sim.Seed), zap.String("bot_app_id", o.sim.BotAppID),
		zap.String("bot_app_password", "***"), zap.String("teams_app_id", o.sim.TeamsAppID),
		zap.String("bot_endpoint", o.sim.BotEndpoint), zap.String("public_url", base),
		zap.Float64("read", o.sim.Engagement.Read), zap.Stringer("read_delay", o.sim.Engagement.ReadDelay),
		zap.Float64("receipts_on", o.sim.Engagement.ReceiptsOn), zap.Float64("acknowledge", o.sim.Engagement.Acknowledge),
		zap.Float64("react", o.sim.Engagement.React), zap.Float64("reply", o.sim.Engagement.Reply),
		zap.Stringer("action_delay", o.sim.Engagement.ActionDelay), zap.Strings("time_zones", o.sim.TimeZones))
	fmt.Fprintf(stdout, "LOGIN_URL=%s/login\nGRAPH_URL=%s/graph/v1.0\nBOT_SERVICE_URL=%s/connector/\n", base, base, base)
	fmt.Fprintf(stdout, "BOT_OPENID_METADATA_URL=%s%s\nBOT_JWKS_URL=%s%s\nBOT_SERVICE_HOSTS=%s\n# control: %s/_sim/ledger\n",
		base, teamsim.BotOpenIDMetadataPath, base, teamsim.BotJWKSPath, hosts, base)

	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		log.Error("server stopped", zap.Error(err))
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests cut short at shutdown", zap.Error(err))
	}
	<-served
	sim.Close() // the activities still being posted to the bot
	l := sim.Ledger()
	log.Info("stopped", zap.Int64("deliveries", l.Deliveries), zap.Int64("delivered_users", l.DeliveredUsers),
		zap.Int64("duplicates", l.Duplicates), zap.Int64("throttled", l.Throttled),
		zap.Int64("retry_after_violations", l.RetryAfterViolations), zap.Int64("reads", l.Engagement.Reads),
		zap.Int64("receipts", l.Engagement.Receipts), zap.Int64("invokes_valid", l.Engagement.InvokesValid),
		zap.Int64("invokes_invalid", l.Engagement.InvokesInvalid), zap.Int64("invokes_late", l.Engagement.InvokesLate))
	return 0
}

// parse reads flags, whose defaults come from the environment.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	env := config.NewEnv(getenv)
	var delayErrs []error
	// envDelay reads a teamsim.Delay ("30s", "1s..30s", "exp:20s").
	envDelay := func(name string, def teamsim.Delay) teamsim.Delay {
		v := strings.TrimSpace(env.Str(name, ""))
		if v == "" {
			return def
		}
		d, err := teamsim.ParseDelay(v)
		if err != nil {
			delayErrs = append(delayErrs, fmt.Errorf("%s=%q: %w", name, v, err))
			return def
		}
		return d
	}
	o := &options{}
	fs := flag.NewFlagSet("teamsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", env.Str("SIM_ADDR", "127.0.0.1:8090"), "listen address (SIM_ADDR)")
	fs.StringVar(&o.tenants, "tenants", env.Str("SIM_TENANTS", teamsim.DefaultTenant), "comma-separated tenant ids (SIM_TENANTS)")
	fs.IntVar(&o.sim.UsersPerTenant, "users", env.Int("SIM_USERS", 100), "users per tenant (SIM_USERS)")
	fs.Float64Var(&o.sim.InstalledFraction, "installed", env.Float("SIM_INSTALLED", 0.9), "fraction of users with the app installed (SIM_INSTALLED)")
	fs.Float64Var(&o.sim.BlockedFraction, "blocked", env.Float("SIM_BLOCKED", 0.02), "fraction of installed users who blocked the bot (SIM_BLOCKED)")
	fs.Float64Var(&o.sim.DisabledFraction, "disabled", env.Float("SIM_DISABLED", 0), "fraction of users for whom an admin disabled the bot (SIM_DISABLED)")
	fs.IntVar(&o.sim.ConnectorRPS, "connector-rps", env.Int("SIM_CONNECTOR_RPS", 50), "Connector requests/s per tenant, 0 = unlimited (SIM_CONNECTOR_RPS)")
	fs.IntVar(&o.sim.GraphRPS, "graph-rps", env.Int("SIM_GRAPH_RPS", 30), "Graph installedApps GETs/s and POSTs/s per tenant, 0 = unlimited (SIM_GRAPH_RPS)")
	fs.BoolVar(&o.sim.ConversationLimits, "conversation-limits", env.Bool("SIM_CONVERSATION_LIMITS", true), "enforce per-conversation limits (SIM_CONVERSATION_LIMITS)")
	fs.BoolVar(&o.sim.GraphFractionalRetryAfter, "graph-fractional-retry-after", env.Bool("SIM_GRAPH_FRACTIONAL_RETRY_AFTER", false), "fractional Retry-After on Graph 429s (SIM_GRAPH_FRACTIONAL_RETRY_AFTER)")
	fs.DurationVar(&o.ttl, "token-ttl", env.Duration("SIM_TOKEN_TTL", 3599*time.Second), "token lifetime (SIM_TOKEN_TTL)")
	fs.Float64Var(&o.sim.ErrorRate, "error-rate", env.Float("SIM_ERROR_RATE", 0), "fraction of sends answered 502/503/504 (SIM_ERROR_RATE)")
	fs.Float64Var(&o.sim.PreconditionRate, "412-rate", env.Float("SIM_412_RATE", 0), "fraction of sends answered 412 (SIM_412_RATE)")
	fs.DurationVar(&o.latency, "latency", env.Duration("SIM_LATENCY", teamsim.DefaultLatency), "latency added to Connector and Graph answers after the rate limits judged the request; 0 = none (SIM_LATENCY)")
	fs.DurationVar(&o.jitter, "jitter", env.Duration("SIM_LATENCY_JITTER", teamsim.DefaultLatencyJitter), "uniform random extra answer latency up to this; the default profile is 100ms ±50% (SIM_LATENCY_JITTER)")
	fs.DurationVar(&o.sim.NetworkJitter, "network-jitter", env.Duration("SIM_NETWORK_JITTER", teamsim.DefaultNetworkJitter), "uniform random delay before a Connector or Graph request is judged, up to this (SIM_NETWORK_JITTER)")
	fs.DurationVar(&o.sim.ChatReadyDelay, "chat-ready-delay", env.Duration("SIM_CHAT_READY_DELAY", teamsim.DefaultChatReadyDelay), "after a Graph install, its chat answers 404 (and the Connector's create 403) for this long (SIM_CHAT_READY_DELAY)")
	fs.DurationVar(&o.sim.ChatReadyJitter, "chat-ready-jitter", env.Duration("SIM_CHAT_READY_JITTER", teamsim.DefaultChatReadyJitter), "uniform random extra chat delay up to this (SIM_CHAT_READY_JITTER)")
	fs.DurationVar(&o.sim.RetryAfterTolerance, "retry-after-tolerance", env.Duration("SIM_RETRY_AFTER_TOLERANCE", teamsim.DefaultRetryAfterTolerance), "a request to a throttled scope more than this after the 429 left is a Retry-After violation (SIM_RETRY_AFTER_TOLERANCE)")
	fs.Int64Var(&o.sim.Seed, "seed", env.Int64("SIM_SEED", 1), "seed of the population and the faults (SIM_SEED)")
	fs.StringVar(&o.sim.BotAppID, "bot-app-id", env.Str("BOT_APP_ID", ""), "the bot's Entra app id (BOT_APP_ID)")
	fs.StringVar(&o.sim.BotAppPassword, "bot-app-password", env.Str("BOT_APP_PASSWORD", ""), "the bot's client secret; prefer the variable (BOT_APP_PASSWORD)")
	fs.StringVar(&o.sim.TeamsAppID, "teams-app-id", env.Str("TEAMS_APP_ID", ""), "the Teams app's manifest id (TEAMS_APP_ID)")
	fs.StringVar(&o.sim.BotEndpoint, "bot-endpoint", env.Str("SIM_BOT_ENDPOINT", ""), "the bot's messaging endpoint, e.g. http://127.0.0.1:3978/api/messages: installs and uninstalls are posted there as Teams does (SIM_BOT_ENDPOINT)")
	fs.StringVar(&o.sim.PublicURL, "public-url", env.Str("SIM_PUBLIC_URL", ""), "the base URL the services reach the simulator at, e.g. http://teamsim:8090 in a container network: the activities' serviceUrl, the metadata's jwks_uri and the URLs printed; default: the listen address (SIM_PUBLIC_URL)")
	e := &o.sim.Engagement
	fs.Float64Var(&e.Read, "read", env.Float("SIM_READ", 0), "share of delivered messages their user reads; 0 = users do nothing (SIM_READ)")
	e.ReadDelay = envDelay("SIM_READ_DELAY", teamsim.Delay{Mean: 20 * time.Second})
	fs.Var(delayFlag{&e.ReadDelay}, "read-delay", "delay from delivery to read: 30s, 1s..30s (uniform) or exp:20s (exponential mean) (SIM_READ_DELAY)")
	fs.Float64Var(&e.ReceiptsOn, "receipts-on", env.Float("SIM_RECEIPTS_ON", 0), "share of users whose read receipts are on: only their reads are posted (SIM_RECEIPTS_ON)")
	fs.Float64Var(&e.Acknowledge, "acknowledge", env.Float("SIM_ACKNOWLEDGE", 0), "share of messages read whose card's Action.Execute the user clicks (SIM_ACKNOWLEDGE)")
	fs.Float64Var(&e.React, "react", env.Float("SIM_REACT", 0), "share of messages read the user reacts to (SIM_REACT)")
	fs.Float64Var(&e.Reply, "reply", env.Float("SIM_REPLY", 0), "share of messages read the user answers (SIM_REPLY)")
	fs.Float64Var(&e.Duplicate, "duplicate", env.Float("SIM_DUPLICATE", 0), "share of receipts, reactions and replies posted twice, the same activity, as Teams may (SIM_DUPLICATE)")
	e.ActionDelay = envDelay("SIM_ACTION_DELAY", teamsim.Delay{Max: 10 * time.Second})
	fs.Var(delayFlag{&e.ActionDelay}, "action-delay", "delay from read to a click, reaction or reply (SIM_ACTION_DELAY)")
	fs.DurationVar(&e.InvokeDeadline, "invoke-deadline", env.Duration("SIM_INVOKE_DEADLINE", teamsim.DefaultInvokeDeadline), "an invoke answered later is late, as Teams gives up (SIM_INVOKE_DEADLINE)")
	fs.IntVar(&e.Concurrency, "engage-concurrency", env.Int("SIM_ENGAGE_CONCURRENCY", 16), "engagement posts in flight at most (SIM_ENGAGE_CONCURRENCY)")
	fs.StringVar(&o.timeZones, "time-zones", env.Str("SIM_TIME_ZONES", strings.Join(teamsim.DefaultTimeZones, ",")), "mailbox time zones given to users, comma-separated; an empty entry is a user without one (SIM_TIME_ZONES)")
	fs.StringVar(&o.logLevel, "log-level", env.Str("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", env.Str("LOG_FORMAT", "json"), "json or console (LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := errors.Join(append([]error{env.Err()}, delayErrs...)...); err != nil {
		return nil, err
	}
	for _, t := range strings.Split(o.tenants, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.sim.Tenants = append(o.sim.Tenants, t)
		}
	}
	o.sim.Latency, o.sim.LatencyJitter, o.sim.TokenTTL = o.latency, o.jitter, o.ttl
	o.sim.TimeZones = strings.Split(o.timeZones, ",")
	for i, z := range o.sim.TimeZones {
		o.sim.TimeZones[i] = strings.TrimSpace(z)
	}
	var missing []string
	for name, v := range map[string]string{"BOT_APP_ID (-bot-app-id)": o.sim.BotAppID,
		"BOT_APP_PASSWORD (-bot-app-password)": o.sim.BotAppPassword, "TEAMS_APP_ID (-teams-app-id)": o.sim.TeamsAppID} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("required: %s", strings.Join(missing, ", "))
	}
	return o, nil
}

// delayFlag is a flag of a teamsim.Delay.
type delayFlag struct{ d *teamsim.Delay }

func (f delayFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f delayFlag) Set(v string) (err error) { *f.d, err = teamsim.ParseDelay(v); return err }

// advertised is the base URL to print, and the BOT_SERVICE_HOSTS entry
// that allows its Connector: the public URL if one is given, else the
// listener's address.
func advertised(publicURL string, a net.Addr) (base, hosts string) {
	publicURL = strings.TrimSuffix(strings.TrimSpace(publicURL), "/")
	if publicURL == "" {
		return "http://" + printableAddr(a), serviceHost(a)
	}
	u, err := url.Parse(publicURL)
	if err != nil { // teamsim.New refused it already
		return publicURL, ""
	}
	if u.Scheme == "https" {
		return publicURL, strings.ToLower(u.Hostname())
	}
	return publicURL, "http://" + strings.ToLower(u.Host)
}

// serviceHost is the BOT_SERVICE_HOSTS entry that allows the simulator's
// Connector URL: its loopback host (any port, http), or http://host:port.
func serviceHost(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if ok && (tcp.IP.IsLoopback() || tcp.IP.IsUnspecified()) {
		return "127.0.0.1"
	}
	return "http://" + a.String()
}

// printableAddr is the listener's address as a client on this machine
// reaches it: a wildcard host becomes loopback.
func printableAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}
