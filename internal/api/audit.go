package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Audit list limits of GET /v1/audit.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// auditWriteTimeout bounds the write of one audit entry.
const auditWriteTimeout = 3 * time.Second

// RequestIDHeader is the header whose value (if any) an audit entry keeps.
const RequestIDHeader = "X-Request-Id"

// AuditPage is the answer of GET /v1/audit.
type AuditPage struct {
	Entries    []broadcast.AuditEntry `json:"entries"`
	NextCursor string                 `json:"nextCursor,omitempty"`
}

// auditNote is what a state-changing call learns for its audit entry: the
// broadcast (a create's only once it is made, or when its outcome is
// unknown) and its tenant, and the status and error code answered.
type auditNote struct {
	broadcastID, tenantID string
	status                int
	code                  string
}

// auditWriter is the writer a state-changing call answers through: it
// remembers the status (metrics.StatusWriter) and tells the call's audit
// note the error code answered, if any (noteError).
type auditWriter struct {
	*metrics.StatusWriter
	note *auditNote
}

// noteError tells the audit note of w, if it has one, the error code
// answered and the broadcast it names.
func noteError(w http.ResponseWriter, code, broadcastID string) {
	a, ok := w.(auditWriter)
	if !ok || a.note == nil {
		return
	}
	a.note.code = code
	if a.note.broadcastID == "" {
		a.note.broadcastID = broadcastID
	}
}

type auditNoteKey struct{}

func (n *auditNote) setStatus(code int) {
	if n != nil && n.status == 0 {
		n.status = code
	}
}

// noteBroadcast tells the audit log which broadcast the call made or acted on.
func noteBroadcast(r *http.Request, b *broadcast.Broadcast) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok && b != nil {
		if n.broadcastID == "" {
			n.broadcastID = b.ID
		}
		if n.tenantID == "" {
			n.tenantID = b.TenantID
		}
	}
}

// noteTenant tells the audit log the tenant a call acted on.
func noteTenant(r *http.Request, tenant string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok && n.tenantID == "" {
		n.tenantID = tenant
	}
}

// audit writes the entry of a state-changing call. The call has happened
// whatever the log's fate: an entry that cannot be written is logged as
// an error with everything it held, and the answer stands (failing the
// request would make the client retry an action already done).
func (s *Server) audit(r *http.Request, p auth.Principal, action string, n *auditNote) {
	e := broadcast.AuditEntry{Time: time.Now().UTC(), Actor: p.Name, Role: p.Role.String(), Action: action,
		BroadcastID: n.broadcastID, TenantID: n.tenantID, Status: n.status, Code: n.code, RequestID: requestID(r)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if err := s.store.AppendAudit(ctx, e, s.auditMax); err != nil {
		s.log.Error("audit entry not written", zap.String("actor", e.Actor), zap.String("role", e.Role),
			zap.String("action", e.Action), zap.String("broadcast_id", e.BroadcastID), zap.String("tenant_id", e.TenantID),
			zap.Int("status", e.Status), zap.String("code", e.Code), zap.String("request_id", e.RequestID), zap.Error(err))
	}
}

// requestID is the request's X-Request-Id, if it is a short printable one.
func requestID(r *http.Request) string {
	v := r.Header.Get(RequestIDHeader)
	if len(v) > 128 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' {
			return ""
		}
	}
	return v
}

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) {
	c := &queryCheck{q: r.URL.Query()}
	c.only("limit", "cursor", "broadcastId", "actor")
	f := store.AuditFilter{BroadcastID: strings.ToLower(c.q.Get("broadcastId")), Actor: c.q.Get("actor"),
		Cursor: c.q.Get("cursor"), Limit: c.limit(DefaultAuditLimit, MaxAuditLimit)}
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	entries, next, err := s.store.Audit(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditPage{Entries: entries, NextCursor: next})
}
