package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The edit and the recall change the message of every recipient who got
// it, through the API (its policy, validation and audit). Each is behind
// a confirmation that says how many people it reaches.

// offersChange reports whether the API's policy lets s make the change
// of route, and b was not recalled: the page offers the button then,
// hidden until someone got the message (report.js shows it).
func offersChange(s *session, b *broadcast.Broadcast, route string) bool {
	least, own, _ := api.Policy(route)
	if !s.Role.Allows(least) || (own && !s.Role.Allows(auth.Admin) && b.CreatedBy != s.Name) {
		return false
	}
	return b.Recall == nil
}

const (
	editRoute   = "POST /v1/broadcasts/{id}/edit"
	recallRoute = "POST /v1/broadcasts/{id}/recall"
)

func offersEdit(s *session, b *broadcast.Broadcast) bool {
	return offersChange(s, b, editRoute) && editable(b.Message)
}

// mayEdit and mayRecall: offered, and someone got the message.
func mayEdit(s *session, b *broadcast.Broadcast) bool { return offersEdit(s, b) && b.Counts.Sent > 0 }

func mayRecall(s *session, b *broadcast.Broadcast) bool {
	return offersChange(s, b, recallRoute) && b.Counts.Sent > 0
}

// editable: the console edits a text message, or a template's title and
// summary; an Adaptive Card of the author's own is edited through the API.
func editable(m broadcast.Message) bool {
	return m.Card == nil && (m.Template != nil || m.Text != "")
}

// editForm is the edit page's fields, as the person typed them.
type editForm struct {
	Text, Title, Summary string
}

type changeData struct {
	B broadcast.Broadcast
	// Affected are the recipients who got the message: the change reaches
	// each of them (a send on its way may add one).
	Affected int64
	// Stopped are the recipients not yet sent, whom a recall stops.
	Stopped int64
	F       editForm
	// Problems are the API's, by form field; Other those no field shows.
	Problems map[string]string
	Other    []string
	CSRF     string
}

func (c *Console) changePage(w http.ResponseWriter, r *http.Request, s *session, page string, allowed func(*session, *broadcast.Broadcast) bool) (*broadcast.Broadcast, bool) {
	b, e := c.broadcastFor(r, s)
	if e != nil {
		c.apiFailed(w, r, s, e)
		return nil, false
	}
	if !allowed(s, b) {
		c.page(w, r, s, http.StatusConflict, "error", errorPage{Title: "Not possible now",
			Message: "You cannot " + page + " this broadcast: nobody got it yet, it was recalled, or you may not change it."})
		return nil, false
	}
	return b, true
}

func (c *Console) confirmEdit(w http.ResponseWriter, r *http.Request, s *session) {
	b, ok := c.changePage(w, r, s, "edit", mayEdit)
	if !ok {
		return
	}
	f := editForm{Text: b.Message.Text}
	if t := b.Message.Template; t != nil {
		f.Title, f.Summary = t.Title, t.Summary
	}
	c.page(w, r, s, http.StatusOK, "edit", changeData{B: *b, Affected: b.Counts.Sent, F: f, CSRF: s.CSRF})
}

// edit sends the new message to the API: the broadcast's message with
// the fields the form edits replaced. The API's problems show at their
// fields.
func (c *Console) edit(w http.ResponseWriter, r *http.Request, s *session) {
	b, ok := c.changePage(w, r, s, "edit", mayEdit)
	if !ok {
		return
	}
	f := editForm{Text: r.PostFormValue("text"), Title: r.PostFormValue("title"), Summary: r.PostFormValue("summary")}
	m := b.Message
	if m.Template != nil {
		t := *m.Template
		t.Title, t.Summary = f.Title, f.Summary
		m.Template = &t
	} else {
		m.Text = f.Text
	}
	body, _ := json.Marshal(broadcast.EditRequest{Message: m})
	var res broadcast.ChangeResult
	e := c.call(r, s, http.MethodPost, "/v1/broadcasts/"+b.ID+"/edit", nil, bytes.NewReader(body), "application/json", &res)
	if e == nil {
		changed(w, r, b.ID, "edited", res.Queued)
		return
	}
	if e.Status != http.StatusBadRequest && e.Status != http.StatusUnprocessableEntity {
		c.apiFailed(w, r, s, e)
		return
	}
	d := changeData{B: *b, Affected: b.Counts.Sent, F: f, CSRF: s.CSRF}
	d.Problems, d.Other = e.byField(func(field string) string { return editField(field, m) })
	c.page(w, r, s, e.Status, "edit", d)
}

// editField maps a field the API names to the edit form's field.
func editField(apiField string, m broadcast.Message) string {
	switch {
	case apiField == "message.text", apiField == "message" && m.Template == nil:
		return "text"
	case apiField == "message.template.summary":
		return "summary"
	case apiField == "message", strings.HasPrefix(apiField, "message.template.title"), apiField == "message.template":
		return "title"
	}
	return ""
}

func (c *Console) confirmRecall(w http.ResponseWriter, r *http.Request, s *session) {
	b, ok := c.changePage(w, r, s, "recall", mayRecall)
	if !ok {
		return
	}
	c.page(w, r, s, http.StatusOK, "recall", changeData{B: *b, Affected: b.Counts.Sent, Stopped: notSent(b), CSRF: s.CSRF})
}

func (c *Console) recall(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var res broadcast.ChangeResult
	if e := c.call(r, s, http.MethodPost, "/v1/broadcasts/"+id+"/recall", nil, strings.NewReader("{}"), "application/json", &res); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	changed(w, r, id, "recalled", res.Queued)
}

// changed sends the browser back to the broadcast, saying how many
// recipients the change is queued for.
func changed(w http.ResponseWriter, r *http.Request, id, notice string, queued int64) {
	q := url.Values{"notice": {notice}, "queued": {fmt.Sprint(queued)}}
	http.Redirect(w, r, "/broadcasts/"+url.PathEscape(id)+"?"+q.Encode(), http.StatusSeeOther)
}
