package console

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// view is what the layout renders: the signed-in user, the page's title
// and its data.
type view struct {
	Session *session
	Title   string
	Nav     string
	Data    any
}

type errorPage struct {
	Title, Message string
	Status         int
	// SignIn offers a sign-in link.
	SignIn bool
}

// titles of the pages whose title does not depend on their data.
var titles = map[string]string{"broadcasts": "Broadcasts", "unreachable": "Unreachable users", "audit": "Audit log",
	"signedout": "Signed out", "compose": "New broadcast", "cancel": "Cancel the broadcast", "broadcast": "Broadcast",
	"approvals": "Waiting for approval", "edit": "Edit the message", "recall": "Recall the message"}

// page renders page name with data: the whole page, buffered, so that a
// template error is a clean 500.
func (c *Console) page(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data any) {
	v := view{Session: s, Title: titles[name], Nav: name, Data: data}
	if e, ok := data.(errorPage); ok {
		v.Title = e.Title
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console page not rendered", zap.String("page", name), zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// apiFailed renders what the API answered.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, s *session, e *apiError) {
	title := map[int]string{http.StatusForbidden: "Not allowed", http.StatusNotFound: "Not found",
		http.StatusConflict: "Not possible now", http.StatusServiceUnavailable: "Unavailable"}[e.Status]
	if title == "" {
		title = "Request refused"
	}
	c.page(w, r, s, e.Status, "error", errorPage{Title: title, Message: e.Message, Status: e.Status})
}

// pageURL is path with q, the cursor set to cursor.
func pageURL(path string, q url.Values, cursor string) string {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("cursor", cursor)
	return path + "?" + q2.Encode()
}

// filters copies the given query parameters of r that are set.
func filters(r *http.Request, names ...string) url.Values {
	q := url.Values{}
	for _, n := range names {
		if v := r.URL.Query().Get(n); v != "" {
			q.Set(n, v)
		}
	}
	return q
}

type broadcastsData struct {
	Statuses  []broadcast.Status
	Status    string
	Problem   string // the API's problem with the filter
	Page      api.BroadcastsPage
	NextURL   string
	CanAuthor bool
}

func (c *Console) broadcasts(w http.ResponseWriter, r *http.Request, s *session) {
	q := filters(r, "status", "cursor")
	q.Set("kind", string(broadcast.KindBroadcast))
	q.Set("limit", "50")
	d := broadcastsData{Statuses: api.ListStatuses, Status: q.Get("status")}
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts", q, nil, "", &d.Page); e != nil {
		if e.Status != http.StatusBadRequest {
			c.apiFailed(w, r, s, e)
			return
		}
		d.Problem = e.Message
		c.page(w, r, s, http.StatusBadRequest, "broadcasts", d)
		return
	}
	if d.Page.NextCursor != "" {
		d.NextURL = pageURL("/broadcasts", filters(r, "status"), d.Page.NextCursor)
	}
	c.page(w, r, s, http.StatusOK, "broadcasts", d)
}

type broadcastData struct {
	B    broadcast.Broadcast
	Live progress
	// State and Engagement filter the recipients; Problem is the API's
	// problem with State, EngagementProblem with Engagement.
	State, Engagement          string
	Problem, EngagementProblem string
	Engagements                []string
	Recipients                 []api.RecipientRow
	NextURL, FirstURL          string
	ExportURL                  string
	Report                     report
	CanCancel                  bool
	// CanEdit and CanRecall offer the edit and the recall (change.go),
	// hidden while nobody got the message.
	CanEdit, CanRecall bool
	Notice             string
	// CanDecide offers the approve and reject form; Decision is that form
	// sent back with a problem.
	CanDecide bool
	Decision  decisionForm
	CSRF      string
}

// broadcastFor reads broadcast {id} through the API.
func (c *Console) broadcastFor(r *http.Request, s *session) (*broadcast.Broadcast, *apiError) {
	var b broadcast.Broadcast
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts/"+r.PathValue("id"), nil, nil, "", &b); e != nil {
		return nil, e
	}
	return &b, nil
}

// mayCancel reports whether the API's policy lets s cancel b, and
// whether b can still be canceled: the page offers the button only then.
func mayCancel(s *session, b *broadcast.Broadcast) bool {
	least, own, _ := api.Policy("POST /v1/broadcasts/{id}/cancel")
	if !s.Role.Allows(least) || (own && !s.Role.Allows(auth.Admin) && b.CreatedBy != s.Name) {
		return false
	}
	return b.CompletedAt == nil && b.Status != broadcast.StatusCanceling && b.Status != broadcast.StatusCanceled
}

// recipientsPage is how many recipients the page lists at a time.
const recipientsPage = 50

// recipientEngagements are the engagement filters the page offers.
var recipientEngagements = []string{api.EngagementRead, api.EngagementUnread, api.EngagementAcknowledged, api.EngagementUnacknowledged}

// notices are what the broadcast's page says after an action
// (?notice=...).
var notices = map[string]string{
	"canceled": "The broadcast is canceled: recipients not yet sent are being stopped.",
	"approved": "The broadcast is approved: it starts now, or at its scheduled time.",
	"rejected": "The broadcast is rejected: nothing was sent, and its author can see why.",
	"edited":   "The edit is under way: each recipient's message is being updated (see Changes).",
	"recalled": "The recall is under way: the message is being deleted from each recipient's chat (see Changes).",
}

func (c *Console) broadcast(w http.ResponseWriter, r *http.Request, s *session) {
	b, e := c.broadcastFor(r, s)
	if e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	c.renderBroadcast(w, r, s, b, decisionForm{}, http.StatusOK)
}

// renderBroadcast renders b's page, with its recipients as r filters
// them, and the approve and reject form f.
func (c *Console) renderBroadcast(w http.ResponseWriter, r *http.Request, s *session, b *broadcast.Broadcast, f decisionForm, status int) {
	d := broadcastData{B: *b, State: r.URL.Query().Get("state"), Engagement: r.URL.Query().Get("engagement"),
		Engagements: recipientEngagements, CanCancel: mayCancel(s, b), CanEdit: offersEdit(s, b), CanRecall: offersChange(s, b, recallRoute),
		CanDecide: mayDecide(s, b), Decision: f, CSRF: s.CSRF, Notice: notices[r.URL.Query().Get("notice")]}
	if n, err := strconv.ParseInt(r.URL.Query().Get("queued"), 10, 64); err == nil && d.Notice != "" {
		d.Notice += fmt.Sprintf(" It is queued for %d recipients.", n)
	}
	d.Live, _ = progressOf(b, b.CreatedAt, nil)
	q := filters(r, "state", "engagement", "cursor")
	q.Set("limit", strconv.Itoa(recipientsPage))
	var rp api.RecipientsPage
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients", q, nil, "", &rp); e != nil {
		if e.Status != http.StatusBadRequest {
			c.apiFailed(w, r, s, e)
			return
		}
		status = http.StatusBadRequest
		if d.EngagementProblem = e.field("engagement"); d.EngagementProblem == "" {
			d.Problem = e.Message
		}
	}
	d.Recipients = rp.Recipients
	list := filters(r, "state", "engagement")
	if rp.NextCursor != "" {
		d.NextURL = pageURL("/broadcasts/"+b.ID, list, rp.NextCursor) + "#recipients-h"
	}
	if q.Get("cursor") != "" {
		d.FirstURL = "/broadcasts/" + b.ID + "?" + list.Encode() + "#recipients-h"
	}
	d.ExportURL = "/broadcasts/" + b.ID + "/export"
	if d.State != "" && d.Problem == "" {
		d.ExportURL += "?state=" + url.QueryEscape(d.State)
	}
	var e *apiError
	if d.Report, e = c.reportOf(r, s, b.ID); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	c.page(w, r, s, status, "broadcast", d)
}

// export streams the API's CSV export, as the user.
func (c *Console) export(w http.ResponseWriter, r *http.Request, s *session) {
	c.proxy(w, r, s, "/v1/broadcasts/"+r.PathValue("id")+"/export", filters(r, "state"))
}

// proxy serves the API's answer to path as the user, streamed as it is
// written (the CSV exports).
func (c *Console) proxy(w http.ResponseWriter, r *http.Request, s *session, path string, q url.Values) {
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: path, RawQuery: q.Encode()}
	r2.RequestURI = ""
	c.api.ServeAs(w, r2, s.principal())
}

type cancelData struct {
	B broadcast.Broadcast
	// Affected are the recipients a cancel stops; Sent already got it.
	Affected, Sent int64
	// NotStarted: no recipient is known yet (scheduled, or expanding).
	NotStarted bool
	CSRF       string
}

func (c *Console) confirmCancel(w http.ResponseWriter, r *http.Request, s *session) {
	b, e := c.broadcastFor(r, s)
	if e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	if !mayCancel(s, b) {
		c.page(w, r, s, http.StatusConflict, "error", errorPage{Title: "Not possible now",
			Message: "You cannot cancel this broadcast: it has ended, or it is not yours to cancel."})
		return
	}
	d := cancelData{B: *b, Sent: b.Counts.Sent, Affected: notSent(b), CSRF: s.CSRF}
	if b.AudienceSize == nil && (b.Status == broadcast.StatusScheduled || b.Status == broadcast.StatusExpanding) {
		d.NotStarted = true
	}
	c.page(w, r, s, http.StatusOK, "cancel", d)
}

// notSent is how many recipients of b are not final yet: those a cancel
// or a recall stops.
func notSent(b *broadcast.Broadcast) int64 {
	if b.AudienceSize != nil {
		return *b.AudienceSize - b.Counts.Done()
	}
	return b.Counts.Total - b.Counts.Done()
}

// cancel cancels through the API (its policy, its audit entry).
func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if e := c.call(r, s, http.MethodPost, "/v1/broadcasts/"+id+"/cancel", nil, nil, "", nil); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	http.Redirect(w, r, "/broadcasts/"+url.PathEscape(id)+"?notice=canceled", http.StatusSeeOther)
}

type unreachableData struct {
	Tenant  string
	Page    api.UnreachablePage
	NextURL string
}

func (c *Console) unreachable(w http.ResponseWriter, r *http.Request, s *session) {
	path := "/v1/tenants/" + url.PathEscape(c.cfg.Tenant) + "/unreachable"
	if r.URL.Query().Get("format") == "csv" {
		c.proxy(w, r, s, path, url.Values{"format": {"csv"}})
		return
	}
	q := filters(r, "cursor")
	q.Set("limit", "50")
	d := unreachableData{Tenant: c.cfg.Tenant}
	if e := c.call(r, s, http.MethodGet, path, q, nil, "", &d.Page); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	if d.Page.NextCursor != "" {
		d.NextURL = pageURL("/unreachable", nil, d.Page.NextCursor)
	}
	c.page(w, r, s, http.StatusOK, "unreachable", d)
}

type auditData struct {
	Actor, BroadcastID string
	Problem            string
	Page               api.AuditPage
	NextURL            string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *session) {
	q := filters(r, "actor", "broadcastId", "cursor")
	q.Set("limit", "50")
	d := auditData{Actor: q.Get("actor"), BroadcastID: q.Get("broadcastId")}
	status := http.StatusOK
	if e := c.call(r, s, http.MethodGet, "/v1/audit", q, nil, "", &d.Page); e != nil {
		if e.Status != http.StatusBadRequest {
			c.apiFailed(w, r, s, e)
			return
		}
		d.Problem, status = e.Message, http.StatusBadRequest
	}
	if d.Page.NextCursor != "" {
		d.NextURL = pageURL("/audit", filters(r, "actor", "broadcastId"), d.Page.NextCursor)
	}
	c.page(w, r, s, status, "audit", d)
}
