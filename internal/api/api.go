// Package api is the dispatcher's HTTP API:
//
//	POST /v1/broadcasts                  create a broadcast (202 Accepted; 200 for an Idempotency-Key replay);
//	                                     JSON, or multipart/form-data with CSV recipients (upload.go)
//	GET  /v1/broadcasts                  the broadcasts, newest first, filtered and paged
//	GET  /v1/broadcasts/{id}             its status and exact counters
//	GET  /v1/broadcasts/{id}/recipients  its recipients, paged, filtered by ?state= or ?engagement=
//	GET  /v1/broadcasts/{id}/engagement  read, acknowledged, reactions, replies; over time; by department (engagement.go)
//	GET  /v1/broadcasts/{id}/replies     the replies recipients wrote to the bot, paged
//	GET  /v1/broadcasts/{id}/export      its recipients as CSV, streamed
//	POST /v1/broadcasts/{id}/cancel      stop it: recipients not yet sent become canceled
//	POST /v1/broadcasts/{id}/replay      queue again the failures kept for replay
//	POST /v1/broadcasts/{id}/preview     send its message to one user, as a preview (202)
//	POST /v1/previews                    send a draft message to one user, as a preview (202)
//	POST /v1/broadcasts/{id}/edit        replace the message, for everyone who got it too
//	POST /v1/broadcasts/{id}/recall      delete the message for everyone who got it, stop the rest
//	POST /v1/broadcasts/{id}/approve     approve a broadcast pending approval (approver; approval.go)
//	POST /v1/broadcasts/{id}/reject      reject it, with a comment (approver)
//	POST /v1/broadcasts/{id}/remind      remind those who did not acknowledge or read it (202; remind.go)
//	GET  /v1/tenants/{tenant}            the tenant's pause, booked budget and queued jobs
//	GET  /v1/tenants/{tenant}/unreachable the users who blocked or uninstalled the bot (JSON or CSV)
//	POST /v1/tenants/{tenant}/render     a draft message as one user gets it, and its size (compose.go)
//	POST /v1/tenants/{tenant}/audience-size how many recipients an audience names, from the directory cache
//	GET  /v1/tenants/{tenant}/groups     the tenant's groups found by name, from the directory cache
//	POST /v1/tenants/{tenant}/conversations/import  cache known conversations from a CSV (admin; conversations.go)
//	GET  /v1/audit                       the audit log: every state-changing call, newest first (admin)
//	GET  /healthz                        liveness (the only route without a key)
//
// Every /v1 route needs a bearer API key (internal/auth) whose role the
// policy table (policy.go) allows; guard.go answers 401 and 403, bounds
// request bodies (413) and writes each state-changing call to the audit
// log (audit.go). A request no route serves needs a valid key too, then
// gets 404, or 405 for a path that takes other methods (routes.go).
//
// Errors are JSON: {"error":{"code":"...","message":"...","fields":[{"field","problem"}]}}.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// MaxBodyBytes bounds a request body: a 50,000-id audience fits.
const MaxBodyBytes = 4 << 20

// Creator creates and controls broadcasts for the tenants it serves.
type Creator interface {
	Create(ctx context.Context, req *broadcast.CreateRequest) (*broadcast.Broadcast, error)
	// CreateOnce creates at most one broadcast per Idempotency-Key (see
	// dispatch.Dispatcher.CreateOnce); replayed means an earlier request
	// with the key created it.
	CreateOnce(ctx context.Context, req *broadcast.CreateRequest, key string) (b *broadcast.Broadcast, replayed bool, err error)
	Serves(tenant string) bool
	// Cancel stops a broadcast; changed is false when there is nothing to
	// wait for: an earlier call had, or a scheduled one is canceled at once.
	Cancel(ctx context.Context, id string) (b *broadcast.Broadcast, changed bool, err error)
	// Replay queues again the broadcast's failed recipients that req selects.
	Replay(ctx context.Context, id string, req *broadcast.ReplayRequest) (*broadcast.ReplayResult, error)
	// Preview sends a broadcast's message to one user as a preview;
	// PreviewDraft a message not sent yet.
	Preview(ctx context.Context, id string, req *broadcast.PreviewRequest) (*broadcast.Broadcast, error)
	PreviewDraft(ctx context.Context, req *broadcast.DraftPreviewRequest) (*broadcast.Broadcast, error)
	// Edit replaces the broadcast's message and updates it for everyone who got it.
	Edit(ctx context.Context, id string, req *broadcast.EditRequest) (*broadcast.ChangeResult, error)
	// Recall deletes the message for everyone who got it and stops the
	// rest; started is false when an earlier call had.
	Recall(ctx context.Context, id string) (res *broadcast.ChangeResult, started bool, err error)
	// Approve and Reject record an approver's decision on a broadcast
	// pending approval (approval.go).
	Approve(ctx context.Context, id string, req *broadcast.DecisionRequest) (*broadcast.Broadcast, error)
	Reject(ctx context.Context, id string, req *broadcast.DecisionRequest) (*broadcast.Broadcast, error)
	// GroupSizes counts the transitive user members of the groups Graph
	// knows, best effort (the audience size of compose.go).
	GroupSizes(ctx context.Context, tenant string, ids []string) map[string]int64
	// Remind sends a reminder of a broadcast to those of its recipients
	// req.To chooses; RemindOnce at most once per Idempotency-Key.
	Remind(ctx context.Context, id string, req *broadcast.RemindRequest) (*broadcast.Broadcast, error)
	RemindOnce(ctx context.Context, id string, req *broadcast.RemindRequest, key string) (*broadcast.Broadcast, bool, error)
}

// Queue reports the jobs waiting per tenant.
type Queue interface {
	Depth(ctx context.Context, tenant string) (map[broadcast.Stage]uint64, error)
}

// Server serves the API.
type Server struct {
	creator Creator
	queue   Queue
	store   *store.Store
	engage  *engage.Store
	log     *zap.Logger
	mux     *routeMux
	keys    *auth.Keys
	// auditMax bounds the audit log (approximately).
	auditMax int64
	// exportPageDone, if set (tests), is called after each page an
	// export has written and flushed.
	exportPageDone func(page int)
	// hosts is the allow-list of an imported conversation's serviceUrl.
	hosts botauth.ServiceHosts
}

// Auth is who may call the API, and the bound of its audit log.
type Auth struct {
	Keys *auth.Keys
	// AuditMaxEntries bounds the audit log (approximately); 0 is
	// DefaultAuditMaxEntries.
	AuditMaxEntries int
}

// DefaultAuditMaxEntries bounds the audit log unless Auth says otherwise.
const DefaultAuditMaxEntries = 1_000_000

// New returns the API's handler. It panics without keys: an API nobody
// may call is a wiring mistake.
func New(c Creator, q Queue, st *store.Store, a Auth, log *zap.Logger) *Server {
	if a.Keys == nil || a.Keys.Len() == 0 {
		panic("api: New without API keys")
	}
	s := &Server{creator: c, queue: q, store: st, log: log, keys: a.Keys, auditMax: int64(a.AuditMaxEntries),
		hosts: botauth.DefaultHosts()}
	if s.auditMax <= 0 {
		s.auditMax = DefaultAuditMaxEntries
	}
	if st != nil {
		s.engage = engage.New(st.Client(), st.Keyspace)
	}
	s.mux = newRouteMux(s.guard)
	s.mux.HandleFunc("POST /v1/broadcasts", s.create)
	s.mux.HandleFunc("GET /v1/broadcasts/{id}", s.get)
	s.mux.HandleFunc("GET /v1/broadcasts/{id}/recipients", s.recipients)
	s.mux.HandleFunc("GET /v1/broadcasts/{id}/engagement", s.engagement)
	s.mux.HandleFunc("GET /v1/broadcasts/{id}/replies", s.replies)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/cancel", s.cancel)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/replay", s.replay)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/preview", s.preview)
	s.mux.HandleFunc("POST /v1/previews", s.previewDraft)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/edit", s.edit)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/recall", s.recall)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/approve", s.approve)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/reject", s.reject)
	s.mux.HandleFunc("POST /v1/broadcasts/{id}/remind", s.remind)
	s.mux.HandleFunc("GET /v1/tenants/{tenant}", s.tenant)
	s.mux.HandleFunc("GET /v1/broadcasts", s.list)
	s.mux.HandleFunc("GET /v1/broadcasts/{id}/export", s.export)
	s.mux.HandleFunc("GET /v1/tenants/{tenant}/unreachable", s.unreachable)
	s.mux.HandleFunc("POST /v1/tenants/{tenant}/render", s.render)
	s.mux.HandleFunc("POST /v1/tenants/{tenant}/audience-size", s.audienceSize)
	s.mux.HandleFunc("GET /v1/tenants/{tenant}/groups", s.groups)
	s.mux.HandleFunc("GET /v1/audit", s.auditList)
	s.mux.HandleFunc("POST /v1/tenants/{tenant}/conversations/import", s.importConversations)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// jsonBody refuses a body that says it is not JSON (415).
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json", nil)
			return false
		}
	}
	return true
}

// decoded answers a body that could not be decoded: 413 over the size
// limit, 400 otherwise. It reports whether err is nil.
func (s *Server) decoded(w http.ResponseWriter, err error) bool {
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var verr *broadcast.ValidationError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w, tooBig.Limit, "")
	case errors.As(err, &verr):
		s.fail(w, err)
	default:
		writeError(w, http.StatusBadRequest, "invalid_request", "body: could not be read: "+err.Error(), nil)
	}
	return false
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	upload := isMultipart(r)
	if !upload && !jsonBody(w, r) {
		return
	}
	key, keyed, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	var req *broadcast.CreateRequest
	if upload {
		req, err = decodeUpload(w, r)
	} else {
		req, err = broadcast.DecodeCreateRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	}
	if !s.decoded(w, err) {
		return
	}
	req.CreatedBy = actor(r)
	var b *broadcast.Broadcast
	replayed := false
	if keyed {
		b, replayed, err = s.creator.CreateOnce(r.Context(), req, key)
	} else {
		b, err = s.creator.Create(r.Context(), req)
	}
	if err != nil {
		s.createFailed(w, err)
		return
	}
	noteBroadcast(r, b)
	if !replayed {
		s.auditApprovalRequest(r, b)
	}
	writeMade(w, b, replayed)
}

// writeMade answers a call that made broadcast b: 202 with its Location,
// or 200 marked replayed when an earlier request with the Idempotency-Key
// made it.
func writeMade(w http.ResponseWriter, b *broadcast.Broadcast, replayed bool) {
	w.Header().Set("Location", "/v1/broadcasts/"+b.ID)
	if replayed {
		w.Header().Set(ReplayedHeader, "true")
		writeJSON(w, http.StatusOK, b)
		return
	}
	writeJSON(w, http.StatusAccepted, b)
}

// ReplayedHeader marks the answer to a create whose Idempotency-Key an
// earlier request used: the broadcast is that request's, as it is now.
const ReplayedHeader = "Idempotent-Replayed"

// idempotencyKey returns the request's Idempotency-Key and whether it has
// one; a header given twice, or empty, or not printable ASCII is refused.
func idempotencyKey(r *http.Request) (key string, ok bool, err error) {
	vals := r.Header.Values(broadcast.IdempotencyHeader)
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, broadcast.Invalid(broadcast.IdempotencyHeader, "given %d times: give it once", len(vals))
	}
	if err := broadcast.CheckIdempotencyKey(vals[0]); err != nil {
		return "", false, err
	}
	return vals[0], true, nil
}

// createFailed answers a create's idempotency conflicts, and any other
// error as fail does.
func (s *Server) createFailed(w http.ResponseWriter, err error) {
	var reused *broadcast.KeyReusedError
	var busy *broadcast.KeyInProgressError
	switch {
	case errors.As(err, &reused):
		writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", reused.Error(),
			[]broadcast.FieldError{{Field: broadcast.IdempotencyHeader, Problem: "already used for a different request"}})
	case errors.As(err, &busy):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(busy.RetryAfter.Seconds()))))
		writeError(w, http.StatusConflict, "idempotency_key_in_progress", busy.Error(), nil)
	default:
		s.fail(w, err)
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	st, err := s.status(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// cancel answers 202 with the broadcast when this call canceled it and
// recipients are still being stopped, 200 when it is canceled already (by
// an earlier call, or at once: a scheduled broadcast), 409 when it had
// completed.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	b, changed, err := s.creator.Cancel(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	status := http.StatusOK
	if changed {
		status = http.StatusAccepted
	}
	writeJSON(w, status, b)
}

// replay answers 202 with what the replay queued.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeReplayRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	res, err := s.creator.Replay(r.Context(), id, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// RecipientsPage is the answer of GET /v1/broadcasts/{id}/recipients.
type RecipientsPage struct {
	Recipients []RecipientRow `json:"recipients"`
	// NextCursor continues the list; absent after the last page. A page
	// filtered by engagement may be shorter than the limit (even empty)
	// and still have one.
	NextCursor string `json:"nextCursor,omitempty"`
}

func (s *Server) recipients(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := broadcast.State(q.Get("state"))
	if state != "" && !state.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_request", "state: unknown state", []broadcast.FieldError{{Field: "state", Problem: "must be one of " + stateNames}})
		return
	}
	filter := q.Get("engagement")
	switch {
	case filter != "" && !engagementFilters[filter]:
		writeError(w, http.StatusBadRequest, "invalid_request", "engagement: unknown filter", []broadcast.FieldError{{Field: "engagement", Problem: "must be one of " + engagementNames}})
		return
	case filter != "" && state != "" && state != broadcast.StateSent:
		writeError(w, http.StatusBadRequest, "invalid_request", "engagement: only recipients sent the message engage", []broadcast.FieldError{{Field: "engagement", Problem: "goes with state sent or no state"}})
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request", "limit: must be a whole number from 1 to 1000", []broadcast.FieldError{{Field: "limit", Problem: "must be a whole number from 1 to 1000"}})
			return
		}
		limit = n
	}
	if _, err := s.store.Broadcast(r.Context(), id); err != nil {
		s.fail(w, err)
		return
	}
	if filter != "" {
		rows, next, err := s.engaged(r.Context(), id, filter, q.Get("cursor"), limit)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, RecipientsPage{Recipients: rows, NextCursor: next})
		return
	}
	recs, next, err := s.store.Recipients(r.Context(), id, state, q.Get("cursor"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	rows, err := s.withEngagement(r.Context(), id, recs)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RecipientsPage{Recipients: rows, NextCursor: next})
}

// TenantStatus is the answer of GET /v1/tenants/{tenant}.
type TenantStatus struct {
	TenantID string `json:"tenantId"`
	// PausedForMs is how long no request may reach the tenant (a 429's
	// Retry-After); 0 when it is not paused.
	PausedForMs int64 `json:"pausedForMs"`
	// BookedAheadMs is how far ahead the senders have booked the tenant's
	// request budget: how long a new send would wait for its slot.
	BookedAheadMs int64 `json:"bookedAheadMs"`
	// CurrentRPS is the rate (requests/s) the senders pace the tenant at
	// now: ConfiguredRPS (their TENANT_RPS) unless 429s showed the real
	// limit is lower. Both are absent until a sender has paced the tenant.
	CurrentRPS    *float64 `json:"currentRps,omitempty"`
	ConfiguredRPS *float64 `json:"configuredRps,omitempty"`
	// Queued counts jobs not yet done, by stage (install, send).
	Queued map[broadcast.Stage]uint64 `json:"queued"`
}

func (s *Server) tenant(w http.ResponseWriter, r *http.Request) {
	tenant := strings.ToLower(r.PathValue("tenant"))
	if !s.creator.Serves(tenant) {
		writeError(w, http.StatusNotFound, "not_found", "this deployment does not serve tenant "+strconv.Quote(tenant), nil)
		return
	}
	b, err := s.store.TenantBudget(r.Context(), tenant)
	if err != nil {
		s.fail(w, err)
		return
	}
	depth, err := s.queue.Depth(r.Context(), tenant)
	if err != nil {
		s.fail(w, err)
		return
	}
	st := TenantStatus{TenantID: tenant, PausedForMs: max(b.PausedFor, 0).Milliseconds(),
		BookedAheadMs: max(b.BookedAhead, 0).Milliseconds(), Queued: depth}
	if b.ConfiguredRPS > 0 {
		cur := math.Round(b.RPS*100) / 100 // the climb makes long fractions
		st.CurrentRPS, st.ConfiguredRPS = &cur, &b.ConfiguredRPS
	}
	writeJSON(w, http.StatusOK, st)
}

var stateNames = func() string {
	names := make([]string, len(broadcast.States))
	for i, st := range broadcast.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}()

func broadcastID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no broadcast "+strconv.Quote(id), nil)
		return "", false
	}
	return id, true
}

// fail maps an error to its status code: the one place that does.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var verr *broadcast.ValidationError
	var conflict *broadcast.ConflictError
	var unknown *broadcast.UnknownUserError
	var undecided *broadcast.OutcomeUnknownError
	var forbidden *broadcast.ForbiddenError
	switch {
	case errors.As(err, &undecided):
		s.log.Warn("answered with the outcome unknown", zap.String("op", undecided.Op),
			zap.String("broadcast_id", undecided.BroadcastID), zap.Time("not_after", undecided.NotAfter))
		writeUndecided(w, undecided)
	case errors.As(err, &verr):
		writeError(w, http.StatusBadRequest, "invalid_request", verr.Error(), verr.Problems)
	case errors.As(err, &unknown):
		writeError(w, http.StatusUnprocessableEntity, "unknown_user", unknown.Error(),
			[]broadcast.FieldError{{Field: "to", Problem: "no such user in the tenant"}})
	case errors.As(err, &forbidden):
		writeError(w, http.StatusForbidden, forbidden.Code, forbidden.Message, nil)
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, conflict.Code, conflict.Message, nil)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such broadcast", nil)
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "invalid_request", "cursor: not one this API issued", []broadcast.FieldError{{Field: "cursor", Problem: "not one this API issued"}})
	default:
		s.log.Error("request failed", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the service cannot complete the request now; retry later", nil)
	}
}

type errorBody struct {
	Error struct {
		Code    string                 `json:"code"`
		Message string                 `json:"message"`
		Fields  []broadcast.FieldError `json:"fields,omitempty"`
		// BroadcastID names the broadcast an outcome_unknown is about.
		BroadcastID string `json:"broadcastId,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, fields []broadcast.FieldError) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Fields = code, msg, fields
	writeErrorBody(w, status, b)
}

func writeErrorBody(w http.ResponseWriter, status int, b errorBody) {
	noteError(w, b.Error.Code, b.Error.BroadcastID)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, b)
}

// writeUndecided answers a state-changing call whose outcome is unknown:
// 503 outcome_unknown, with the broadcast and what the client may do.
// Every other error a state-changing call answers means that it did not
// take effect and will not (see store.Fence).
func writeUndecided(w http.ResponseWriter, e *broadcast.OutcomeUnknownError) {
	var b errorBody
	b.Error.Code, b.Error.BroadcastID = "outcome_unknown", e.BroadcastID
	b.Error.Message = e.Error() + "; GET /v1/broadcasts/" + e.BroadcastID + " tells once the service answers again. " + retryAdvice[e.Op]
	writeErrorBody(w, http.StatusServiceUnavailable, b)
}

// retryAdvice says, per call, whether retrying an outcome_unknown is safe.
var retryAdvice = map[string]string{
	"create": "A retry with the same Idempotency-Key is safe: it answers this broadcast if it was created, or creates it once; " +
		"without a key, look the broadcast up before creating it again",
	"preview": "A retry may send the preview twice: look the preview up first",
	"remind": "A retry with the same Idempotency-Key is safe: it answers this reminder if it was made, or makes it once; " +
		"without a key, look the original's remindedBy up before reminding again",
	"cancel":  "A retry is safe: a broadcast is canceled once",
	"replay":  "A retry is safe: a replay never queues a recipient twice",
	"edit":    "A retry is safe: it starts another edit round to the same message",
	"recall":  "A retry is safe: a message is recalled once",
	"approve": "A retry is safe: a broadcast is decided on once (a retry after it took effect answers 409 not_pending)",
	"reject":  "A retry is safe: a broadcast is decided on once (a retry after it took effect answers 409 not_pending)",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// NewHTTPServer returns an http.Server for h with timeouts set.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
}

// actor is the name of the key the request authenticated with.
func actor(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Name
}
