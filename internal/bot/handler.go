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
// broadcast installs the app again, and records the uninstall. Activities
// of tenants the deployment does not serve are authentic but not ours:
// they are answered 200 and ignored (logged), because Teams treats any
// other answer as a failed delivery. Every other activity (messages,
// edits, deletes, read receipts, ...) is answered 200 and ignored.
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
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Path is where the endpoint listens, as the bot's registration names it.
const Path = "/api/messages"

// Defaults.
const (
	DefaultMaxBody  = 256 << 10
	maxConversation = 1024 // bytes of a conversation id
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
	Now     func() time.Time
}

// Handler serves the messaging endpoint.
type Handler struct {
	cfg     Config
	tenants map[string]bool
	auth    Validator
	store   *store.Store
	log     *zap.Logger
	mux     *http.ServeMux
}

// New returns a Handler.
func New(cfg Config, auth Validator, st *store.Store, log *zap.Logger) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, tenants: make(map[string]bool, len(cfg.Tenants)), auth: auth, store: st, log: log, mux: http.NewServeMux()}
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
	outcome, status := h.apply(r.Context(), &a)
	metrics.BotActivity(outcome, status)
	w.WriteHeader(status)
}

// apply acts on an authenticated activity and returns its outcome (for the
// metrics) and the answer's status.
func (h *Handler) apply(ctx context.Context, a *activity) (string, int) {
	ev := a.classify(h.cfg.AppID)
	log := h.log.With(zap.String("activity_type", a.Type), zap.String("tenant_id", a.tenant()), zap.String("user_id", a.user()))
	if ev == eventNone {
		log.Debug("activity ignored", zap.String("action", a.Action), zap.String("name", a.Name))
		return metrics.BotIgnored, http.StatusOK
	}
	tenant, user := a.tenant(), a.user()
	switch {
	case !a.personal():
		log.Debug("activity outside personal scope ignored", zap.String("conversation_type", a.Conversation.ConversationType))
		return metrics.BotIgnored, http.StatusOK
	case !broadcast.IsGUID(tenant) || !broadcast.IsGUID(user):
		log.Info("install activity without a tenant and user id rejected")
		return metrics.BotRejected, http.StatusBadRequest
	case !h.tenants[tenant]:
		log.Warn("activity of a tenant not served ignored")
		return metrics.BotIgnored, http.StatusOK
	}
	if ev == eventUninstalled {
		if err := h.store.NoteUninstalled(ctx, tenant, user, h.cfg.Now()); err != nil {
			log.Error("uninstall not recorded", zap.Error(err))
			return metrics.BotRejected, http.StatusInternalServerError
		}
		log.Info("app uninstalled: conversation forgotten")
		return metrics.BotUninstalled, http.StatusOK
	}
	conv := a.Conversation.ID
	if conv == "" || len(conv) > maxConversation {
		log.Info("install activity without a usable conversation id rejected")
		return metrics.BotRejected, http.StatusBadRequest
	}
	if err := h.store.NoteInstalled(ctx, tenant, user, conv); err != nil {
		log.Error("conversation not cached", zap.Error(err))
		return metrics.BotRejected, http.StatusInternalServerError
	}
	log.Info("app installed: conversation cached")
	return metrics.BotInstalled, http.StatusOK
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
