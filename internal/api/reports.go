package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/csvsafe"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// List limits of GET /v1/broadcasts.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// exportPage is the number of recipients an export reads, writes and
// flushes at a time: what it holds in memory.
const exportPage = 500

// exportWriteWindow is how long the client has to take each page of a
// streamed report: the deadline moves on with every page, so a report of
// any size is not cut by the server's WriteTimeout.
const exportWriteWindow = time.Minute

// ListStatuses are the statuses GET /v1/broadcasts filters on.
var ListStatuses = []broadcast.Status{broadcast.StatusScheduled, broadcast.StatusExpanding, broadcast.StatusSending,
	broadcast.StatusCompleted, broadcast.StatusCanceling, broadcast.StatusCanceled, broadcast.StatusFailed,
	broadcast.StatusPendingApproval, broadcast.StatusRejected}

// Kinds are the kinds of broadcast GET /v1/broadcasts filters on.
var Kinds = []broadcast.Kind{broadcast.KindBroadcast, broadcast.KindPreview, broadcast.KindApprovalRequest, broadcast.KindReminder}

// BroadcastsPage is the answer of GET /v1/broadcasts.
type BroadcastsPage struct {
	Broadcasts []*broadcast.Broadcast `json:"broadcasts"`
	// NextCursor continues the list; absent after the last page. A page
	// filtered by status or kind may be shorter than the limit (even
	// empty) and still have one: each page looks at a bounded number of
	// broadcasts.
	NextCursor string `json:"nextCursor,omitempty"`
}

// UnreachablePage is the JSON answer of GET /v1/tenants/{tenant}/unreachable.
type UnreachablePage struct {
	Users      []broadcast.UnreachableUser `json:"users"`
	NextCursor string                      `json:"nextCursor,omitempty"`
}

// queryCheck reads query parameters, collecting every problem.
type queryCheck struct {
	q    url.Values
	errs broadcast.ValidationError
}

func (c *queryCheck) bad(field, format string, args ...any) {
	c.errs.Problems = append(c.errs.Problems, broadcast.FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// only refuses parameters not in names (a misspelt filter would
// otherwise silently list everything).
func (c *queryCheck) only(names ...string) {
	for k := range c.q {
		if !slices.Contains(names, k) {
			c.bad(k, "unknown parameter; the parameters are %s", strings.Join(names, ", "))
		}
	}
	for _, k := range names {
		if len(c.q[k]) > 1 {
			c.bad(k, "given %d times: give it once", len(c.q[k]))
		}
	}
}

func (c *queryCheck) limit(def, maxN int) int {
	v := c.q.Get("limit")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxN {
		c.bad("limit", "must be a whole number from 1 to %d, got %q", maxN, v)
		return def
	}
	return n
}

func (c *queryCheck) time(name string) time.Time {
	v := c.q.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		c.bad(name, "must be an RFC 3339 time such as 2026-12-01T09:00:00Z, got %q", v)
	}
	return t
}

func (c *queryCheck) err() error {
	if len(c.errs.Problems) == 0 {
		return nil
	}
	return &c.errs
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	c := &queryCheck{q: r.URL.Query()}
	c.only("tenantId", "status", "kind", "createdAfter", "createdBefore", "limit", "cursor")
	f := store.ListFilter{TenantID: strings.ToLower(c.q.Get("tenantId")), Status: broadcast.Status(c.q.Get("status")),
		Kind: broadcast.Kind(c.q.Get("kind")), Cursor: c.q.Get("cursor")}
	if f.TenantID != "" && !s.creator.Serves(f.TenantID) {
		c.bad("tenantId", "this deployment does not serve tenant %q", f.TenantID)
	}
	if f.Status != "" && !slices.Contains(ListStatuses, f.Status) {
		c.bad("status", "must be one of %s, got %q", joinNames(ListStatuses), f.Status)
	}
	if f.Kind != "" && !slices.Contains(Kinds, f.Kind) {
		c.bad("kind", "must be one of %s, got %q", joinNames(Kinds), f.Kind)
	}
	f.CreatedAfter, f.CreatedBefore = c.time("createdAfter"), c.time("createdBefore")
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		c.bad("createdBefore", "must be later than createdAfter")
	}
	f.Limit = c.limit(DefaultListLimit, MaxListLimit)
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	bs, next, err := s.store.ListBroadcasts(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	if bs == nil {
		bs = []*broadcast.Broadcast{}
	}
	writeJSON(w, http.StatusOK, BroadcastsPage{Broadcasts: bs, NextCursor: next})
}

// ExportColumns are the columns of GET /v1/broadcasts/{id}/export.
// readAt and acknowledgedAt are empty when not known; reactions are the
// recipient's reaction types, separated by spaces.
var ExportColumns = []string{"userId", "userPrincipalName", "displayName", "state", "reason", "attempts", "activityId", "updatedAt",
	"readAt", "acknowledgedAt", "reactions"}

// export streams a broadcast's recipients as CSV, a page at a time: each
// page is read, joined with the directory cache's names, written and
// flushed before the next is read, so memory holds one page whatever the
// audience. An error after the first page cuts the response (the client
// sees a truncated body, never a short file that looks whole).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok {
		return
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("state")
	state := broadcast.State(c.q.Get("state"))
	if state != "" && !state.Valid() {
		c.bad("state", "must be one of %s, got %q", stateNames, state)
	}
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	b, err := s.store.Broadcast(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	recs, cursor, err := s.store.Recipients(r.Context(), id, state, "", exportPage)
	if err != nil {
		s.fail(w, err)
		return
	}
	log := s.log.With(zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID))
	st := newCSVStream(w, "broadcast-"+id+".csv", ExportColumns)
	row := make([]string, len(ExportColumns))
	for page := 1; ; page++ {
		ids := userIDs(recs)
		profiles, err := s.store.Profiles(r.Context(), b.TenantID, ids)
		if err != nil {
			st.abort(log, err)
		}
		eng, err := s.engage.Recipients(r.Context(), id, ids)
		if err != nil {
			st.abort(log, err)
		}
		for _, rec := range recs {
			p, e := profiles[rec.UserID], eng[rec.UserID]
			row[0], row[1], row[2], row[3], row[4] = rec.UserID, p.UserPrincipalName, p.DisplayName, string(rec.State), string(rec.Reason)
			row[5], row[6], row[7] = strconv.Itoa(rec.Attempts), rec.ActivityID, rec.UpdatedAt.UTC().Format(time.RFC3339Nano)
			row[8], row[9], row[10] = timeCell(e.ReadAt), timeCell(e.AcknowledgedAt), strings.Join(e.Reactions, " ")
			st.write(log, row)
		}
		st.flush(log)
		if s.exportPageDone != nil {
			s.exportPageDone(page)
		}
		if cursor == "" {
			return
		}
		if recs, cursor, err = s.store.Recipients(r.Context(), id, state, cursor, exportPage); err != nil {
			st.abort(log, err)
		}
	}
}

func timeCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// UnreachableColumns are the columns of the unreachable report's CSV.
var UnreachableColumns = []string{"userId", "userPrincipalName", "displayName", "reason", "broadcastId", "at", "times"}

func (s *Server) unreachable(w http.ResponseWriter, r *http.Request) {
	tenant := strings.ToLower(r.PathValue("tenant"))
	if !s.creator.Serves(tenant) {
		writeError(w, http.StatusNotFound, "not_found", "this deployment does not serve tenant "+strconv.Quote(tenant), nil)
		return
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("limit", "cursor", "format")
	format := c.q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		c.bad("format", "must be json or csv, got %q", format)
	}
	limit := c.limit(100, 1000)
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	cursor := c.q.Get("cursor")
	if format != "csv" {
		users, next, err := s.store.UnreachableUsers(r.Context(), tenant, cursor, limit)
		if err != nil {
			s.fail(w, err)
			return
		}
		if users == nil {
			users = []broadcast.UnreachableUser{}
		}
		writeJSON(w, http.StatusOK, UnreachablePage{Users: users, NextCursor: next})
		return
	}
	// CSV: every user from the cursor on (at most limit when given), a
	// page at a time.
	left := -1
	if c.q.Get("limit") != "" {
		left = limit
	}
	page := func(cursor string) ([]broadcast.UnreachableUser, string, error) {
		n := exportPage
		if left >= 0 {
			n = min(n, left)
		}
		return s.store.UnreachableUsers(r.Context(), tenant, cursor, n)
	}
	users, cursor, err := page(cursor)
	if err != nil {
		s.fail(w, err)
		return
	}
	log := s.log.With(zap.String("tenant_id", tenant))
	st := newCSVStream(w, "unreachable-"+tenant+".csv", UnreachableColumns)
	row := make([]string, len(UnreachableColumns))
	for {
		for _, u := range users {
			row[0], row[1], row[2], row[3] = u.UserID, u.UserPrincipalName, u.DisplayName, string(u.Reason)
			row[4], row[5], row[6] = u.BroadcastID, u.At.UTC().Format(time.RFC3339Nano), strconv.Itoa(u.Times)
			st.write(log, row)
		}
		st.flush(log)
		if left >= 0 {
			left -= len(users)
		}
		if cursor == "" || left == 0 {
			return
		}
		if users, cursor, err = page(cursor); err != nil {
			st.abort(log, err)
		}
	}
}

// csvStream writes a CSV answer as it goes (RFC 4180, CRLF line ends),
// each cell neutralised for spreadsheets (csvsafe): display names are
// anyone's to choose.
type csvStream struct {
	w  *csvsafe.Writer
	rc *http.ResponseController
}

func newCSVStream(w http.ResponseWriter, filename string, header []string) *csvStream {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	st := &csvStream{w: csvsafe.NewWriter(w), rc: http.NewResponseController(w)}
	_ = st.w.Write(header)
	return st
}

func (st *csvStream) write(log *zap.Logger, row []string) {
	if err := st.w.Write(row); err != nil {
		st.abort(log, err)
	}
}

// flush sends what is written and gives the client another window for
// the next page.
func (st *csvStream) flush(log *zap.Logger) {
	st.w.Flush()
	if err := st.w.Error(); err != nil {
		st.abort(log, err)
	}
	_ = st.rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
	if err := st.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		st.abort(log, err)
	}
}

// abort ends a response already begun: the status is sent, so the only
// way to tell the client the body is incomplete is to cut it.
func (st *csvStream) abort(log *zap.Logger, err error) {
	log.Warn("report cut short", zap.Error(err))
	panic(http.ErrAbortHandler)
}

func joinNames[T ~string](vals []T) string {
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}
