// Package config reads each binary's configuration from the environment,
// with defaults for Microsoft's public cloud, validation that names the
// variable at fault, and a loggable view with secrets masked.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/localtime"
	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// Defaults for Microsoft's public cloud.
const (
	DefaultLoginURL      = "https://login.microsoftonline.com"
	DefaultGraphURL      = "https://graph.microsoft.com/v1.0"
	DefaultBotServiceURL = "https://smba.trafficmanager.net/teams/"
	DefaultNATSURL       = "nats://127.0.0.1:4222"
	DefaultRedisURL      = "redis://127.0.0.1:6379/0"
)

// Common is what every binary needs.
type Common struct {
	NATSURL        string
	RedisURL       string
	BotAppID       string
	BotAppPassword string
	LoginURL       string
	LogLevel       string
	LogFormat      string // json or console
	// PprofAddr, when set, serves net/http/pprof there (loopback only).
	PprofAddr string
	// MetricsAddr is the ops listener's address: /metrics, /healthz and
	// /readyz (METRICS_ADDR; a default per binary, "off" for none).
	MetricsAddr string
	// Tenants this deployment serves; the first is the default of a request.
	Tenants []string
	// FailedRetention is how long the failed-sends stream keeps a failure
	// for replay (FAILED_RETENTION, default 14 days). Every binary sets up
	// the stream: give them all the same value.
	FailedRetention time.Duration
	// RedisTLS (REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE)
	// completes a rediss REDIS_URL (any mode): a private CA, a client
	// certificate.
	RedisTLS TLSFiles
	// RedisSentinelPassword (REDIS_SENTINEL_PASSWORD) is the password of
	// the sentinels of a redis+sentinel REDIS_URL, when they want one.
	RedisSentinelPassword string
	// RedisPrefix (REDIS_PREFIX) starts every key the binaries write, so
	// that other applications can share the Redis: give them all the same.
	RedisPrefix string
	// NATSTLS (NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE)
	// makes the NATS connection TLS (whatever NATS_URL's scheme) and
	// verifies the server against the CA.
	NATSTLS TLSFiles
	// StreamReplicas (NATS_STREAM_REPLICAS, default 1) is the number of
	// copies of the JOBS and FAILED streams: 3 on a three-node NATS
	// cluster. Every binary sets the streams up: give them all the same.
	StreamReplicas int
	// NATSCredsFile (NATS_CREDS_FILE) is a .creds file, the user JWT and
	// nkey seed of a NATS account in operator mode.
	NATSCredsFile string
}

// Dispatcher configures the API and the audience expansion, and the bot
// messaging endpoint.
type Dispatcher struct {
	Common
	GraphURL string
	HTTPAddr string
	GraphRPS float64
	// APIKeys are the keys the API accepts (API_KEYS_FILE, API_KEYS): at
	// least one. AuditMaxEntries bounds the audit log (AUDIT_MAX_ENTRIES).
	APIKeys         []auth.Key
	AuditMaxEntries int
	Bot             BotEndpoint
	Approval        Approval
	Console         Console
	// TimeZone (TENANT_TIME_ZONE, an IANA or Windows name, default UTC) is
	// the zone of a localTime broadcast's recipients who have none in their
	// mailbox settings; read back as its IANA name.
	TimeZone string
	// ReminderPrefix leads the original's message in a reminder sent
	// without a message of its own (REMINDER_PREFIX, default
	// "Reminder: "; "none" for no prefix).
	ReminderPrefix string
}

// BotEndpoint configures the bot's messaging endpoint (POST /api/messages),
// where Teams posts activities. It listens on its own address, because
// Microsoft must reach it and nothing else need reach the API.
type BotEndpoint struct {
	// Addr is where it listens (BOT_ADDR, e.g. :3978); empty: no endpoint.
	Addr string
	// Where the Bot Framework's keys are published, and the issuer of its
	// tokens; only these two URLs are ever fetched.
	OpenIDMetadataURL string // BOT_OPENID_METADATA_URL
	JWKSURL           string // BOT_JWKS_URL
	TokenIssuer       string // BOT_TOKEN_ISSUER
	// ServiceHosts are the hosts an activity's serviceUrl may name
	// (BOT_SERVICE_HOSTS).
	ServiceHosts botauth.ServiceHosts
	// AutoReply is sent back to a user who writes to the bot
	// (BOT_AUTO_REPLY, markdown); empty: none. It is posted through the
	// Connector at ServiceURL (BOT_SERVICE_URL, read only with an
	// auto-reply).
	AutoReply  string
	ServiceURL string
}

// Installer configures the install workers. BotServiceURL and TenantRPS
// serve the Connector route it takes when Graph is saturated: the tenant's
// budget is the one the senders share.
type Installer struct {
	Common
	GraphURL      string
	TeamsAppID    string
	GraphRPS      float64
	Concurrency   int
	BotServiceURL string
	// BotServiceHosts is the allow-list BotServiceURL is checked against.
	BotServiceHosts botauth.ServiceHosts
	TenantRPS       float64
	HTTPTimeout     time.Duration
	// ConversationWait is how long a new install waits for the bot
	// endpoint to cache its conversation (INSTALL_CONVERSATION_WAIT);
	// 0, the default, when no bot endpoint is deployed.
	ConversationWait time.Duration
}

// Sender configures the send workers.
type Sender struct {
	Common
	BotServiceURL string
	// BotServiceHosts is the allow-list BotServiceURL is checked against.
	BotServiceHosts botauth.ServiceHosts
	TenantRPS       float64
	Concurrency     int
	MaxRetries      int
	// MaxThrottles bounds the 429s one recipient may get before it is
	// failed (throttled) and left for a replay.
	MaxThrottles int
	HTTPTimeout  time.Duration
}

type reader struct {
	getenv func(string) string
	errs   []error
}

// ownFileVariable are the variables whose NAME_FILE their own reader takes
// (API_KEYS_FILE: a key file, read with API_KEYS inline): str leaves it.
var ownFileVariable = map[string]bool{"API_KEYS": true}

// str reads name, or the file name_FILE points to (see Lookup).
func (r *reader) str(name, def string) string {
	if ownFileVariable[name] {
		if v := strings.TrimSpace(r.getenv(name)); v != "" {
			return v
		}
		return def
	}
	v, err := Lookup(r.getenv, name)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	if v != "" {
		return v
	}
	return def
}

func (r *reader) required(name string) string {
	before := len(r.errs)
	v := r.str(name, "")
	if v == "" && len(r.errs) == before { // an unreadable NAME_FILE is said already
		r.errs = append(r.errs, fmt.Errorf("%s: required", name))
	}
	return v
}

func (r *reader) float(name string, def, min float64) float64 {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < min {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a number >= %g", name, s, min))
		return def
	}
	return v
}

func (r *reader) int(name string, def, min int) int {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < min {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a whole number >= %d", name, s, min))
		return def
	}
	return v
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a positive duration such as 15s", name, s))
		return def
	}
	return v
}

func (r *reader) url(name, def string) string {
	v := r.str(name, def)
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not an http(s) URL", name, v))
	}
	return v
}

// addr reads a listen address, host:port (the host may be empty: every
// interface).
func (r *reader) addr(name, def string) string {
	v := r.str(name, def)
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not host:port", name, v))
	}
	return v
}

// loopback reads a listen address that must be on the loopback interface:
// pprof has no authentication, so nothing else may reach it.
func (r *reader) loopback(name, def string) string {
	v := r.str(name, def)
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not host:port", name, v))
		return v
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a loopback address: pprof has no authentication, so it listens on 127.0.0.1 only", name, v))
	}
	return v
}

// Default ops listeners (METRICS_ADDR): one per binary, so that one host
// runs one of each without a clash; loopback unless told otherwise.
const (
	DefaultDispatcherMetricsAddr = "127.0.0.1:9090"
	DefaultInstallerMetricsAddr  = "127.0.0.1:9091"
	DefaultSenderMetricsAddr     = "127.0.0.1:9092"
)

// listen reads a listen address, any interface (":9090" in a container),
// or "off" (or unset without a default) for none ("").
func (r *reader) listen(name, def string) string {
	v := r.str(name, def)
	if v == "" || strings.EqualFold(v, "off") {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not host:port (or off)", name, v))
	}
	return v
}

// serviceHosts reads BOT_SERVICE_HOSTS, the allow-list of the hosts a
// serviceUrl may name.
func (r *reader) serviceHosts() botauth.ServiceHosts {
	v := r.str("BOT_SERVICE_HOSTS", strings.Join(botauth.DefaultServiceHosts, ","))
	h, err := botauth.ParseServiceHosts(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("BOT_SERVICE_HOSTS: %w", err))
	}
	return h
}

// serviceURL reads BOT_SERVICE_URL and checks it against the allow-list,
// so that no sender ever calls a serviceUrl outside it.
func (r *reader) serviceURL(hosts botauth.ServiceHosts) string {
	v := r.url("BOT_SERVICE_URL", DefaultBotServiceURL)
	if !hosts.Empty() {
		if err := hosts.Check(v); err != nil {
			r.errs = append(r.errs, fmt.Errorf("BOT_SERVICE_URL: %w (BOT_SERVICE_HOSTS is %s)", err, hosts))
		}
	}
	return v
}

func (r *reader) common(metricsAddr string) Common {
	c := Common{
		MetricsAddr:     r.listen("METRICS_ADDR", metricsAddr),
		NATSURL:         r.str("NATS_URL", DefaultNATSURL),
		RedisURL:        r.str("REDIS_URL", DefaultRedisURL),
		BotAppID:        r.required("BOT_APP_ID"),
		BotAppPassword:  r.required("BOT_APP_PASSWORD"),
		LoginURL:        r.url("LOGIN_URL", DefaultLoginURL),
		LogLevel:        r.str("LOG_LEVEL", "info"),
		LogFormat:       r.str("LOG_FORMAT", "json"),
		FailedRetention: r.duration("FAILED_RETENTION", 14*24*time.Hour),
	}
	c.RedisTLS = r.tlsFiles("REDIS_TLS")
	redisOpts, err := redisclient.ParseURL(c.RedisURL)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	c.RedisSentinelPassword = r.str("REDIS_SENTINEL_PASSWORD", "")
	if c.RedisSentinelPassword != "" && redisOpts != nil && redisOpts.Mode != redisclient.Sentinel {
		r.errs = append(r.errs, errors.New("REDIS_SENTINEL_PASSWORD: set, but REDIS_URL is not a redis+sentinel:// or rediss+sentinel:// URL"))
	}
	c.RedisPrefix = r.str("REDIS_PREFIX", "")
	if err := redisclient.CheckPrefix(c.RedisPrefix); err != nil {
		r.errs = append(r.errs, err)
	}
	c.NATSTLS = r.tlsFiles("NATS_TLS")
	c.NATSCredsFile = r.readable("NATS_CREDS_FILE")
	c.StreamReplicas = r.int("NATS_STREAM_REPLICAS", 1, 1)
	if c.StreamReplicas > 5 {
		r.errs = append(r.errs, fmt.Errorf("NATS_STREAM_REPLICAS: %d is more than JetStream's 5", c.StreamReplicas))
	}
	if c.RedisTLS.Set() && redisOpts != nil && redisOpts.Universal.TLSConfig == nil {
		r.errs = append(r.errs, errors.New("REDIS_TLS_*_FILE: TLS to Redis needs a rediss:// (or rediss+sentinel://, rediss+cluster://) REDIS_URL"))
	}
	if r.str("PPROF_ADDR", "") != "" {
		c.PprofAddr = r.loopback("PPROF_ADDR", "")
	}
	for _, t := range strings.Split(r.required("TENANT_ID"), ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			if !broadcast.IsGUID(t) {
				r.errs = append(r.errs, fmt.Errorf("TENANT_ID: %q is not a GUID", t))
			}
			c.Tenants = append(c.Tenants, t)
		}
	}
	return c
}

// tlsFiles reads prefix_CA_FILE, prefix_CERT_FILE and prefix_KEY_FILE and
// checks they load.
func (r *reader) tlsFiles(prefix string) TLSFiles {
	before := len(r.errs)
	f := TLSFiles{CAFile: r.readable(prefix + "_CA_FILE"), CertFile: r.readable(prefix + "_CERT_FILE"),
		KeyFile: r.readable(prefix + "_KEY_FILE")}
	if len(r.errs) > before {
		return f // named already
	}
	if _, err := f.Load(); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s_*_FILE: %w", prefix, err))
	}
	return f
}

// readable reads the path of a file that must exist and be readable.
func (r *reader) readable(name string) string {
	path := r.str(name, "")
	if path != "" {
		if f, err := os.Open(path); err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
		} else {
			_ = f.Close()
		}
	}
	return path
}

// timeZone reads a zone name, IANA or Windows, and returns its IANA name.
func (r *reader) timeZone(name, def string) string {
	v := r.str(name, def)
	iana, _, err := localtime.Zone(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a time zone: give an IANA name such as Europe/Berlin, or a Windows one such as \"W. Europe Standard Time\"", name, v))
		return ""
	}
	return iana
}

func (r *reader) err() error { return errors.Join(r.errs...) }

// DefaultReminderPrefix is REMINDER_PREFIX's default.
const DefaultReminderPrefix = "Reminder: "

// LoadDispatcher reads the dispatcher's configuration.
func LoadDispatcher(getenv func(string) string) (Dispatcher, error) {
	r := &reader{getenv: getenv}
	c := Dispatcher{Common: r.common(DefaultDispatcherMetricsAddr), GraphURL: r.url("GRAPH_URL", DefaultGraphURL),
		HTTPAddr: r.addr("HTTP_ADDR", "127.0.0.1:8080"), GraphRPS: r.float("GRAPH_RPS", 30, 0.1),
		APIKeys: r.apiKeys(), AuditMaxEntries: r.int("AUDIT_MAX_ENTRIES", DefaultAuditMaxEntries, 1000)}
	c.Bot = BotEndpoint{Addr: r.listen("BOT_ADDR", ""),
		OpenIDMetadataURL: r.url("BOT_OPENID_METADATA_URL", botauth.DefaultOpenIDMetadataURL),
		JWKSURL:           r.url("BOT_JWKS_URL", botauth.DefaultJWKSURL),
		TokenIssuer:       r.str("BOT_TOKEN_ISSUER", botauth.DefaultIssuer),
		ServiceHosts:      r.serviceHosts(), AutoReply: strings.TrimSpace(r.str("BOT_AUTO_REPLY", ""))}
	if c.Bot.AutoReply != "" {
		c.Bot.ServiceURL = r.serviceURL(c.Bot.ServiceHosts)
	}
	c.Console = r.console(c.Common)
	c.TimeZone = r.timeZone("TENANT_TIME_ZONE", "UTC")
	c.Approval = r.approval()
	if c.ReminderPrefix = r.str("REMINDER_PREFIX", DefaultReminderPrefix); c.ReminderPrefix == "none" {
		c.ReminderPrefix = ""
	}
	// The approval request's button opens the broadcast in the console.
	c.Approval.ConsoleURL = c.Console.URL
	return c, r.err()
}

// LoadInstaller reads the installer's configuration.
func LoadInstaller(getenv func(string) string) (Installer, error) {
	r := &reader{getenv: getenv}
	hosts := r.serviceHosts()
	c := Installer{Common: r.common(DefaultInstallerMetricsAddr), GraphURL: r.url("GRAPH_URL", DefaultGraphURL),
		TeamsAppID: r.required("TEAMS_APP_ID"), GraphRPS: r.float("GRAPH_RPS", 30, 0.1),
		Concurrency: r.int("INSTALL_CONCURRENCY", 512, 1), BotServiceURL: r.serviceURL(hosts), BotServiceHosts: hosts,
		TenantRPS: r.float("TENANT_RPS", 50, 0.1), HTTPTimeout: r.duration("HTTP_TIMEOUT", 15*time.Second)}
	if v := r.str("INSTALL_CONVERSATION_WAIT", ""); v != "0" && v != "0s" {
		c.ConversationWait = r.duration("INSTALL_CONVERSATION_WAIT", 0)
	}
	return c, r.err()
}

// LoadSender reads the sender's configuration.
func LoadSender(getenv func(string) string) (Sender, error) {
	r := &reader{getenv: getenv}
	hosts := r.serviceHosts()
	c := Sender{Common: r.common(DefaultSenderMetricsAddr), BotServiceURL: r.serviceURL(hosts), BotServiceHosts: hosts,
		TenantRPS: r.float("TENANT_RPS", 50, 0.1), Concurrency: r.int("SEND_CONCURRENCY", 512, 1),
		MaxRetries: r.int("SEND_MAX_RETRIES", 5, 0), MaxThrottles: r.int("SEND_MAX_THROTTLES", 20, 1),
		HTTPTimeout: r.duration("HTTP_TIMEOUT", 15*time.Second)}
	return c, r.err()
}

// Shared returns the settings every binary has.
func (c Common) Shared() Common { return c }

// Fields is the loggable view of the dispatcher's configuration.
func (c Dispatcher) Fields() []zap.Field {
	f := append(c.Common.Fields(), zap.String("graph_url", c.GraphURL), zap.String("http_addr", c.HTTPAddr),
		zap.Float64("graph_rps", c.GraphRPS), zap.Strings("api_keys", keyNames(c.APIKeys)), zap.Int("audit_max_entries", c.AuditMaxEntries),
		zap.String("bot_addr", c.Bot.Addr),
		zap.String("bot_openid_metadata_url", c.Bot.OpenIDMetadataURL), zap.String("bot_jwks_url", c.Bot.JWKSURL),
		zap.String("bot_token_issuer", c.Bot.TokenIssuer), zap.Stringer("bot_service_hosts", c.Bot.ServiceHosts),
		zap.Bool("bot_auto_reply", c.Bot.AutoReply != ""), zap.String("bot_service_url", c.Bot.ServiceURL),
		zap.Stringer("approval_required", c.Approval.Policy), zap.Strings("approval_notify", c.Approval.Notify),
		zap.String("tenant_time_zone", c.TimeZone), zap.String("reminder_prefix", c.ReminderPrefix))
	return append(f, c.Console.Fields()...)
}

// Fields is the loggable view of the installer's configuration.
func (c Installer) Fields() []zap.Field {
	return append(c.Common.Fields(), zap.String("graph_url", c.GraphURL), zap.String("teams_app_id", c.TeamsAppID),
		zap.Float64("graph_rps", c.GraphRPS), zap.Int("concurrency", c.Concurrency),
		zap.String("bot_service_url", c.BotServiceURL), zap.Stringer("bot_service_hosts", c.BotServiceHosts),
		zap.Float64("tenant_rps", c.TenantRPS), zap.Duration("conversation_wait", c.ConversationWait))
}

// Fields is the loggable view of the sender's configuration.
func (c Sender) Fields() []zap.Field {
	return append(c.Common.Fields(), zap.String("bot_service_url", c.BotServiceURL),
		zap.Stringer("bot_service_hosts", c.BotServiceHosts), zap.Float64("tenant_rps", c.TenantRPS),
		zap.Int("concurrency", c.Concurrency), zap.Int("max_retries", c.MaxRetries), zap.Int("max_throttles", c.MaxThrottles),
		zap.Duration("http_timeout", c.HTTPTimeout))
}

// Fields is the loggable view of a configuration: secrets masked.
func (c Common) Fields() []zap.Field {
	return []zap.Field{
		zap.String("nats_url", redactURL(c.NATSURL)), zap.String("redis_url", redactURL(c.RedisURL)),
		zap.String("bot_app_id", c.BotAppID), zap.String("bot_app_password", mask(c.BotAppPassword)),
		zap.String("login_url", c.LoginURL), zap.Strings("tenants", c.Tenants), zap.String("pprof_addr", c.PprofAddr),
		zap.String("metrics_addr", c.MetricsAddr),
		zap.Duration("failed_retention", c.FailedRetention),
		zap.String("redis_tls_ca_file", c.RedisTLS.CAFile), zap.String("redis_tls_cert_file", c.RedisTLS.CertFile),
		zap.String("redis_sentinel_password", mask(c.RedisSentinelPassword)), zap.String("redis_prefix", c.RedisPrefix),
		zap.String("nats_tls_ca_file", c.NATSTLS.CAFile), zap.String("nats_tls_cert_file", c.NATSTLS.CertFile),
		zap.String("nats_creds_file", c.NATSCredsFile), zap.Int("nats_stream_replicas", c.StreamReplicas),
	}
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}

// redactURL hides a password in a URL such as redis://:secret@host:6379.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		userinfo = userinfo[:i] + ":***"
	} else {
		userinfo = "***"
	}
	return u[:scheme+3] + userinfo + u[at:]
}
