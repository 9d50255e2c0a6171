package teamsim

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultTenant is the tenant simulated when Config.Tenants is empty.
const DefaultTenant = "00000000-0000-0000-0000-000000000001"

// ConnectorTenant is the tenant of the Bot Connector token of a
// multi-tenant bot.
const ConnectorTenant = "botframework.com"

const (
	defaultUsersPerTenant = 100
	defaultTokenTTL       = 3599 * time.Second
	maxUsersPerTenant     = 5_000_000
)

// Config describes the simulated tenants, their limits and the faults to
// inject. The zero value of every field but the credentials is usable, and
// has no latency, no network jitter and no chat delay, so that unit tests
// run fast; Realistic (the default of cmd/teamsim and internal/demo) gives
// Teams-like timing.
type Config struct {
	// Tenants are the tenant ids; DefaultTenant when empty.
	Tenants []string
	// UsersPerTenant is the population of each tenant; default 100.
	UsersPerTenant int
	// InstalledFraction of the users already have the app installed (0..1).
	InstalledFraction float64
	// BlockedFraction of the installed users blocked the bot: sends answer 403.
	BlockedFraction float64
	// DisabledFraction of all users are covered by an app permission policy
	// that blocks the app: creates and sends answer 403 BotDisabledByAdmin,
	// Graph installs 403 Forbidden.
	DisabledFraction float64
	// AccountDisabledFraction of all users have a disabled account
	// (accountEnabled false): Graph lists them, they cannot sign in.
	AccountDisabledFraction float64
	// Groups are the Entra groups of every tenant; nil means DefaultGroups,
	// an empty non-nil slice none.
	Groups []GroupSpec
	// DeltaTokenTTL is how long a users/delta deltaLink stays usable;
	// later it answers 400 syncStateNotFound, as Graph does after 7 days.
	// 0 means 7 days.
	DeltaTokenTTL time.Duration

	// BotAppID and BotAppPassword are the client credentials the token
	// endpoint accepts (the bot's Entra app).
	BotAppID, BotAppPassword string
	// TeamsAppID is the app's manifest id (externalId in the app catalog).
	TeamsAppID string

	// ConnectorRPS limits all Connector calls per app per tenant over a
	// sliding one-second window; 0 means unlimited.
	ConnectorRPS int
	// ConversationLimits enforces the per-conversation limits on sends and
	// creates: 7 per 1 s, 8 per 2 s, 60 per 30 s, 1800 per hour.
	ConversationLimits bool
	// GraphRPS limits Graph installedApps GETs and POSTs per tenant, each
	// over its own sliding one-second window; 0 means unlimited.
	GraphRPS int
	// GraphFractionalRetryAfter makes Graph 429s carry a fractional
	// Retry-After such as "1.25" (Connector 429s always use whole seconds).
	GraphFractionalRetryAfter bool

	// TokenTTL is the lifetime of issued tokens; default 3599 s, at least 1 s.
	TokenTTL time.Duration

	// ErrorRate is the fraction of Connector sends answered 502, 503 or 504.
	ErrorRate float64
	// PreconditionRate is the fraction of Connector sends answered 412.
	PreconditionRate float64
	// GatewayDeliveredRate is the fraction of the 502 and 504 answers of
	// ErrorRate given after the message was delivered, as by a gateway
	// that gave up waiting for Teams: the user has the message, the
	// client sees an error (Ledger.DeliveredWithError).
	GatewayDeliveredRate float64
	// SlowRate is the fraction of Connector sends whose answer waits
	// SlowLatency more than the others: decided, and a 201 already in
	// the ledger, before the wait, as when Teams is slow to answer a
	// message it has taken. A client whose timeout is shorter sees a
	// timeout for a delivered message (Ledger.UnansweredDeliveries).
	// Updates and deletes carried out are answered late as often.
	SlowRate    float64
	SlowLatency time.Duration
	// Latency is added to every Connector and Graph answer, plus a uniform
	// random [0, LatencyJitter), after the request was judged by the rate
	// limits (DefaultLatency, DefaultLatencyJitter: 100 ms ±50%).
	Latency       time.Duration
	LatencyJitter time.Duration
	// NetworkJitter delays every Connector and Graph request by a uniform
	// random [0, NetworkJitter) before it is judged: the windows count
	// requests in the order they arrive, so a client that paces exactly at
	// a limit sees 429s (DefaultNetworkJitter).
	NetworkJitter time.Duration
	// RetryAfterTolerance: a request that reaches a blocked scope more than
	// this after the 429 that blocked it left the simulator (its answer's
	// latency elapsed) is a Retry-After violation; earlier ones were in
	// flight. 0 means DefaultRetryAfterTolerance (5 ms).
	RetryAfterTolerance time.Duration

	// ChatReadyDelay plus a uniform [0, ChatReadyJitter) is how long after
	// a Graph install (201) its 1:1 chat exists: until then Graph's
	// installation /chat answers 404, the Connector's create conversation
	// and sends to the chat 403 ForbiddenOperationException, and the bot
	// is not told of the install, as Teams creates the chat asynchronously
	// (DefaultChatReadyDelay, DefaultChatReadyJitter; 0: at once).
	ChatReadyDelay, ChatReadyJitter time.Duration

	// BotEndpoint, when set, is the bot's messaging endpoint (e.g.
	// http://127.0.0.1:3978/api/messages): after each Graph install the
	// simulator posts it a signed conversationUpdate, after each
	// uninstall an installationUpdate remove, as Teams does.
	BotEndpoint string
	// PublicURL, when set, is the simulator's base URL as the bot knows
	// it (e.g. http://teamsim:8090 in a container network): the
	// serviceUrl of the activities it posts and their tokens' serviceurl
	// claim, and the jwks_uri of its OpenID metadata. Empty: the URL each
	// request reached it at (the URL clients last reached it at for
	// uninstalls). Graph's nextLinks always follow the request.
	PublicURL string

	// Engagement is what users do with the messages they get: read
	// (receipts), react, acknowledge, reply, posted to BotEndpoint. The
	// zero value does nothing.
	Engagement Engagement
	// TimeZones are the mailbox time zones (Graph mailboxSettings) given
	// to users, each user one of them by a hash of its id; an empty entry
	// is a user without one. nil means DefaultTimeZones.
	TimeZones []string

	// Seed makes the population and the fault decisions deterministic.
	Seed int64

	// Logger; nil means no logging.
	Logger *zap.Logger
}

// withDefaults returns a copy of c with defaults filled in and tenant ids
// in lower case.
func (c Config) withDefaults() Config {
	if len(c.Tenants) == 0 {
		c.Tenants = []string{DefaultTenant}
	} else {
		ts := make([]string, len(c.Tenants))
		for i, t := range c.Tenants {
			ts[i] = strings.ToLower(strings.TrimSpace(t))
		}
		c.Tenants = ts
	}
	if c.UsersPerTenant == 0 {
		c.UsersPerTenant = defaultUsersPerTenant
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = defaultTokenTTL
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Groups == nil {
		c.Groups = DefaultGroups()
	}
	if c.RetryAfterTolerance == 0 {
		c.RetryAfterTolerance = DefaultRetryAfterTolerance
	}
	if c.DeltaTokenTTL == 0 {
		c.DeltaTokenTTL = 7 * 24 * time.Hour
	}
	c.PublicURL = strings.TrimSuffix(strings.TrimSpace(c.PublicURL), "/")
	c.Engagement = c.Engagement.withDefaults()
	if c.TimeZones == nil {
		c.TimeZones = DefaultTimeZones
	}
	return c
}

// validate names every field at fault.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	seen := make(map[string]bool, len(c.Tenants))
	for i, t := range c.Tenants {
		switch {
		case t == "":
			bad(fmt.Sprintf("Tenants[%d]", i), "is empty")
		case strings.ContainsAny(t, "/?#% "):
			bad(fmt.Sprintf("Tenants[%d]", i), "%q contains a character not allowed in a URL path segment", t)
		case t == ConnectorTenant:
			bad(fmt.Sprintf("Tenants[%d]", i), "%q is the Bot Connector's token tenant, not a customer tenant", t)
		case seen[t]:
			bad(fmt.Sprintf("Tenants[%d]", i), "%q is listed twice", t)
		}
		seen[t] = true
	}
	if c.UsersPerTenant < 0 || c.UsersPerTenant > maxUsersPerTenant {
		bad("UsersPerTenant", "must be between 1 and %d, got %d", maxUsersPerTenant, c.UsersPerTenant)
	}
	fraction := func(field string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			bad(field, "must be between 0 and 1, got %v", v)
		}
	}
	fraction("InstalledFraction", c.InstalledFraction)
	fraction("BlockedFraction", c.BlockedFraction)
	fraction("DisabledFraction", c.DisabledFraction)
	fraction("AccountDisabledFraction", c.AccountDisabledFraction)
	if err := validateGroups(c.Groups); err != nil {
		errs = append(errs, err)
	}
	if c.DeltaTokenTTL < 0 {
		bad("DeltaTokenTTL", "must not be negative, got %s", c.DeltaTokenTTL)
	}
	fraction("ErrorRate", c.ErrorRate)
	fraction("PreconditionRate", c.PreconditionRate)
	fraction("GatewayDeliveredRate", c.GatewayDeliveredRate)
	fraction("SlowRate", c.SlowRate)
	if c.SlowLatency < 0 {
		bad("SlowLatency", "must not be negative, got %s", c.SlowLatency)
	}
	if c.ErrorRate+c.PreconditionRate > 1 {
		bad("ErrorRate+PreconditionRate", "must not exceed 1, got %v", c.ErrorRate+c.PreconditionRate)
	}
	if strings.TrimSpace(c.BotAppID) == "" {
		bad("BotAppID", "is required")
	}
	if c.BotAppPassword == "" {
		bad("BotAppPassword", "is required")
	}
	if strings.TrimSpace(c.TeamsAppID) == "" {
		bad("TeamsAppID", "is required")
	}
	if c.ConnectorRPS < 0 {
		bad("ConnectorRPS", "must not be negative (0 means unlimited), got %d", c.ConnectorRPS)
	}
	if c.GraphRPS < 0 {
		bad("GraphRPS", "must not be negative (0 means unlimited), got %d", c.GraphRPS)
	}
	if c.TokenTTL < time.Second {
		bad("TokenTTL", "must be at least 1s (expires_in is whole seconds), got %s", c.TokenTTL)
	}
	if c.BotEndpoint != "" {
		if u, err := url.Parse(c.BotEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("BotEndpoint", "%q is not an http(s) URL", c.BotEndpoint)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("PublicURL", "%q is not an http(s) base URL (scheme and host[:port] only)", c.PublicURL)
		}
	}
	if c.Latency < 0 {
		bad("Latency", "must not be negative, got %s", c.Latency)
	}
	if c.LatencyJitter < 0 {
		bad("LatencyJitter", "must not be negative, got %s", c.LatencyJitter)
	}
	if c.ChatReadyDelay < 0 {
		bad("ChatReadyDelay", "must not be negative, got %s", c.ChatReadyDelay)
	}
	if c.ChatReadyJitter < 0 {
		bad("ChatReadyJitter", "must not be negative, got %s", c.ChatReadyJitter)
	}
	if c.NetworkJitter < 0 {
		bad("NetworkJitter", "must not be negative, got %s", c.NetworkJitter)
	}
	if c.RetryAfterTolerance < 0 {
		bad("RetryAfterTolerance", "must not be negative, got %s", c.RetryAfterTolerance)
	}
	c.Engagement.validate(bad, fraction)
	if c.Engagement.on() && c.BotEndpoint == "" {
		bad("Engagement", "needs BotEndpoint: the users' engagement is posted to the bot")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("teamsim: invalid config: %w", errors.Join(errs...))
}
