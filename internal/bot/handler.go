// Package bot serves the bot's messaging endpoint, POST /api/messages,
// where Teams posts activities. Each request is authenticated (package
// botauth: a Bot Framework JWT whose serviceurl claim is the activity's),
// and its serviceUrl must name an allowed Teams host, before anything is
// stored.
//
// The endpoint keeps the conversation cache in step with installs: when
// the app is installed for a user (installationUpdate add, or a
// conversationUpdate adding the bot, in personal scope) it caches the
// user's conversation, so the installer need not look it up through
// Graph; when the app is uninstalled (installationUpdate remove, or the
// bot in membersRemoved) it forgets the conversation, so the next
// broadcast installs the app again, and records the uninstall. Teams
// announces one install with both activities: the second is counted as a
// duplicate.
//
// It records engagement (package engage) in personal scope: read receipts
// (event application/vnd.microsoft.readReceipt), reactions
// (messageReaction, replyToId naming the message), Action.Execute invokes
// (adaptiveCard/action, the acknowledge button among them, each answered
// with an invoke response: engage.go) and replies (a user's message, kept
// for the broadcast that reached them last, optionally answered with
// Config.AutoReply). Each is idempotent: Teams may post one twice or out
// of order.
//
// Activities of tenants the deployment does not serve are authentic but
// not ours: they are answered 200 and ignored (logged), because Teams
// treats any other answer as a failed delivery. Every other activity
// (edits, deletes, typing, ...) is answered 200 and ignored.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Path is where the endpoint listens, as the bot's registration names it.
const Path = "/api/messages"

// Defaults.
const (
	DefaultMaxBody       = 256 << 10
	DefaultInvokeTimeout = 3 * time.Second
	maxConversation      = 1024 // bytes of a conversation id
)

// Validator authenticates an activity's request.
type Validator interface {
	Validate(ctx context.Context, authorization string, a botauth.Activity) (*botauth.Claims, error)
}

var _ Validator = (*botauth.Validator)(nil)

// Config configures a Handler.
type Config struct {
	AppID   string   // the bot's app id
	Tenants []string // the tenants served; others' activities are ignored
	// Hosts is the allow-list of serviceUrl hosts.
	Hosts botauth.ServiceHosts
	// MaxBody bounds a request body; default DefaultMaxBody.
	MaxBody int64
	// InvokeTimeout bounds the work of an invoke, which Teams waits for
	// about 5 s; default DefaultInvokeTimeout.
	InvokeTimeout time.Duration
	// AutoReply, when set, is sent back to a user who writes to the bot
	// (BOT_AUTO_REPLY), through Replier.
	AutoReply string
	Replier   Replier
	Now       func() time.Time
}

// Replier posts an activity to a conversation (teams.Client).
type Replier interface {
	Send(ctx context.Context, conversationID string, activity []byte) (string, error)
}

// Handler serves the messaging endpoint.
type Handler struct {
	cfg     Config
	tenants map[string]bool
	auth    Validator
	store   *store.Store
	engage  *engage.Store
	log     *zap.Logger
	mux     *http.ServeMux
}

// New returns a Handler.
func New(cfg Config, auth Validator, st *store.Store, log *zap.Logger) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.InvokeTimeout <= 0 {
		cfg.InvokeTimeout = DefaultInvokeTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, tenants: make(map[string]bool, len(cfg.Tenants)), auth: auth, store: st,
		engage: engage.New(st.Client(), st.Keyspace), log: log, mux: http.NewServeMux()}
	for _, t := range cfg.Tenants {
		h.tenants[strings.ToLower(t)] = true
	}
	h.mux.HandleFunc("POST "+Path, h.messages)
	return h
}

// NewHTTPServer returns the endpoint's server, with bounded reads and writes.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 15 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) messages(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	authz := r.Header.Get("Authorization")
	if authz == "" {
		h.deny(w, http.StatusUnauthorized, "no Authorization header", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.deny(w, http.StatusRequestEntityTooLarge, "body too large", nil)
		return
	case err != nil:
		h.deny(w, http.StatusBadRequest, "body not read", err)
		return
	}
	var a activity
	if err := json.Unmarshal(body, &a); err != nil || a.Type == "" {
		h.deny(w, http.StatusBadRequest, "not an activity", err)
		return
	}
	if _, err := h.auth.Validate(r.Context(), authz, botauth.Activity{ServiceURL: a.ServiceURL, ChannelID: a.ChannelID}); err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, botauth.ErrForbidden) {
			status = http.StatusForbidden
		}
		h.deny(w, status, "activity not authenticated", err)
		return
	}
	if err := h.cfg.Hosts.Check(a.ServiceURL); err != nil {
		h.deny(w, http.StatusForbidden, "serviceUrl not allowed", err)
		return
	}
	ans := h.apply(r.Context(), &a)
	metrics.BotActivity(ans.outcome, ans.status)
	if ans.body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ans.status)
		_ = json.NewEncoder(w).Encode(ans.body)
	} else {
		w.WriteHeader(ans.status)
	}
	metrics.BotLatency(a.Type, time.Since(start))
}

// answer is what the endpoint answers an authenticated activity: the
// outcome (for the metrics), the status and, for an invoke, the body.
type answer struct {
	outcome string
	status  int
	body    any
}

func ignored() answer  { return answer{outcome: metrics.BotIgnored, status: http.StatusOK} }
func rejected() answer { return answer{outcome: metrics.BotRejected, status: http.StatusBadRequest} }
func failed() answer {
	return answer{outcome: metrics.BotRejected, status: http.StatusInternalServerError}
}

// apply acts on an authenticated activity.
func (h *Handler) apply(ctx context.Context, a *activity) answer {
	log := h.log.With(zap.String("activity_type", a.Type), zap.String("tenant_id", a.tenant()), zap.String("user_id", a.user()))
	switch {
	case a.Type == typeInvoke && a.Name == nameCardAction:
		return h.cardAction(ctx, a, log)
	case a.Type == typeEvent && a.Name == nameReadReceipt, a.Type == typeMessageReaction, a.Type == typeMessage:
		return h.engagement(ctx, a, log)
	}
	ev := a.classify(h.cfg.AppID)
	if ev == eventNone {
		log.Debug("activity ignored", zap.String("action", a.Action), zap.String("name", a.Name))
		return ignored()
	}
	tenant, user, ok, ans := h.who(a, log)
	if !ok {
		return ans
	}
	if ev == eventUninstalled {
		if err := h.store.NoteUninstalled(ctx, tenant, user, h.cfg.Now()); err != nil {
			log.Error("uninstall not recorded", zap.Error(err))
			return failed()
		}
		log.Info("app uninstalled: conversation forgotten")
		return answer{outcome: metrics.BotUninstalled, status: http.StatusOK}
	}
	conv := a.Conversation.ID
	if conv == "" || len(conv) > maxConversation {
		log.Info("install activity without a usable conversation id rejected")
		return rejected()
	}
	fresh, err := h.store.NoteInstalled(ctx, tenant, user, conv)
	if err != nil {
		log.Error("conversation not cached", zap.Error(err))
		return failed()
	}
	if !fresh {
		log.Debug("install announced again")
		return answer{outcome: metrics.BotDuplicate, status: http.StatusOK}
	}
	log.Info("app installed: conversation cached")
	return answer{outcome: metrics.BotInstalled, status: http.StatusOK}
}

// who returns the activity's tenant and user if the endpoint acts on it:
// in personal scope, with GUIDs, of a tenant served. Else ok is false and
// ans says what to answer.
func (h *Handler) who(a *activity, log *zap.Logger) (tenant, user string, ok bool, ans answer) {
	tenant, user = a.tenant(), a.user()
	switch {
	case !a.personal():
		log.Debug("activity outside personal scope ignored", zap.String("conversation_type", a.Conversation.ConversationType))
		return "", "", false, ignored()
	case !broadcast.IsGUID(tenant) || !broadcast.IsGUID(user):
		log.Info("activity without a tenant id (conversation.tenantId) and user id (from.aadObjectId) rejected")
		return "", "", false, rejected()
	case !h.tenants[tenant]:
		log.Warn("activity of a tenant not served ignored")
		return "", "", false, ignored()
	}
	return tenant, user, true, answer{}
}

// deny answers a rejected request; the log names the cause, never the token.
func (h *Handler) deny(w http.ResponseWriter, status int, msg string, cause error) {
	fields := []zap.Field{zap.Int("status", status)}
	if cause != nil {
		fields = append(fields, zap.Error(cause))
	}
	h.log.Info(msg, fields...)
	metrics.BotActivity(metrics.BotRejected, status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bot"`)
	}
	http.Error(w, http.StatusText(status), status)
}
