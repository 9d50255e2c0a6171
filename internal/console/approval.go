package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// mayApprove reports whether the API's policy lets s approve or reject
// broadcasts at all: the nav shows the approvals page only then.
func mayApprove(s *session) bool {
	least, _, _ := api.Policy("POST /v1/broadcasts/{id}/approve")
	return s.Role.Allows(least)
}

// mayDecide reports whether the page offers s the approve and reject
// form for b: it waits for approval, and s did not create it (nobody
// decides on their own, admins neither: the API answers 403
// own_broadcast).
func mayDecide(s *session, b *broadcast.Broadcast) bool {
	return mayApprove(s) && b.Status == broadcast.StatusPendingApproval && b.CreatedBy != s.Name
}

type approvalsData struct {
	Page    api.BroadcastsPage
	NextURL string
	Name    string // the signed-in user: their own broadcasts say so
}

// approvals lists the broadcasts waiting for approval, through the API.
func (c *Console) approvals(w http.ResponseWriter, r *http.Request, s *session) {
	q := filters(r, "cursor")
	q.Set("status", string(broadcast.StatusPendingApproval))
	q.Set("kind", string(broadcast.KindBroadcast))
	q.Set("limit", "50")
	d := approvalsData{Name: s.Name}
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts", q, nil, "", &d.Page); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	if d.Page.NextCursor != "" {
		d.NextURL = pageURL("/approvals", nil, d.Page.NextCursor)
	}
	c.page(w, r, s, http.StatusOK, "approvals", d)
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request, s *session) {
	c.decide(w, r, s, broadcast.DecisionApproved)
}

func (c *Console) reject(w http.ResponseWriter, r *http.Request, s *session) {
	c.decide(w, r, s, broadcast.DecisionRejected)
}

// decide approves or rejects through the API (its policy, the
// own_broadcast rule, its audit entry). A problem with the comment is
// shown at the field, on the broadcast's page, with what was typed.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, s *session, d broadcast.Decision) {
	id := r.PathValue("id")
	action := "approve"
	if d == broadcast.DecisionRejected {
		action = "reject"
	}
	comment := r.PostFormValue("comment")
	body, _ := json.Marshal(broadcast.DecisionRequest{Comment: comment})
	e := c.call(r, s, http.MethodPost, "/v1/broadcasts/"+id+"/"+action, nil, bytes.NewReader(body), "application/json", nil)
	if e == nil {
		http.Redirect(w, r, "/broadcasts/"+url.PathEscape(id)+"?notice="+string(d), http.StatusSeeOther)
		return
	}
	problem := e.field("comment")
	if e.Status != http.StatusBadRequest || problem == "" {
		c.apiFailed(w, r, s, e)
		return
	}
	b, e := c.broadcastFor(r, s)
	if e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	c.renderBroadcast(w, r, s, b, decisionForm{Comment: comment, Problem: problem, Action: action}, http.StatusBadRequest)
}

// decisionForm is the approve and reject form as it was sent back with
// a problem at its comment.
type decisionForm struct {
	Comment, Problem string
	Action           string // approve, reject: the button that was used
}

// audienceOf describes b's audience before it is resolved: the store
// keeps the users it lists apart from the broadcast, so they read as
// "listed users" here.
func audienceOf(b *broadcast.Broadcast) string {
	s := b.Audience.SizeAtCreate()
	switch {
	case b.AudienceSize != nil:
		return strconv.FormatInt(*b.AudienceSize, 10) + " users (resolved)"
	case s == "" || strings.HasPrefix(s, ","):
		return "listed users" + s
	}
	return s
}
