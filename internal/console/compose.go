package console

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// composeForm is the compose page's fields, as the person typed them.
type composeForm struct {
	Kind string // text, template, card
	Text string
	// Card is a raw Adaptive Card (JSON).
	Card                             string
	Title, Summary, ImageURL, Author string
	ButtonTitle, ButtonURL           string
	Acknowledge                      bool
	Silent                           bool // no activity-feed notification
	AckTitle                         string
	Audience                         string // all, groups, users, csv
	IncludeGuests                    bool
	Groups, Users                    string // one a line (or comma-separated); a group line may carry its name
	ExcludeGroups, ExcludeUsers      string
	Priority                         string // normal, urgent
	SendAt                           string // datetime-local, read as UTC
	PreviewAs                        string // whose profile fills the preview's placeholders
}

type composeData struct {
	F    composeForm
	CSRF string
	// Problems are the API's, by form field; Other those no field shows.
	Problems map[string]string
	Other    []string
	// Notice says what the last action did (a preview sent).
	Notice string
	// CanCreate: the API's policy lets the person create broadcasts.
	CanCreate bool
	// Tenant is the tenant the console composes for.
	Tenant string
}

func mayCreate(s *session) bool {
	least, _, _ := api.Policy("POST /v1/broadcasts")
	return s.Role.Allows(least)
}

func (c *Console) compose(w http.ResponseWriter, r *http.Request, s *session) {
	f := composeForm{Kind: "text", Audience: "all", Priority: "normal", AckTitle: "Got it", PreviewAs: s.Name}
	c.page(w, r, s, http.StatusOK, "compose", c.composeData(s, f))
}

func (c *Console) composeData(s *session, f composeForm) composeData {
	return composeData{F: f, CSRF: s.CSRF, Problems: map[string]string{}, CanCreate: mayCreate(s), Tenant: c.cfg.Tenant}
}

func readComposeForm(r *http.Request) composeForm {
	v := r.PostFormValue
	return composeForm{Kind: v("kind"), Text: v("text"), Card: v("card"), Title: v("title"), Summary: v("summary"),
		ImageURL: v("imageUrl"), Author: v("author"), ButtonTitle: v("buttonTitle"), ButtonURL: v("buttonUrl"),
		Acknowledge: v("acknowledge") != "", AckTitle: v("ackTitle"), Silent: v("silent") != "",
		Audience: v("audience"), IncludeGuests: v("includeGuests") != "", Groups: v("groups"), Users: v("users"),
		ExcludeGroups: v("excludeGroups"), ExcludeUsers: v("excludeUsers"),
		Priority: v("priority"), SendAt: v("sendAt"), PreviewAs: v("previewAs")}
}

// message is the form's message, as the API takes it.
func (f composeForm) message() broadcast.Message {
	var m broadcast.Message
	switch f.Kind {
	case "template":
		t := &broadcast.Template{Title: f.Title, Summary: f.Summary, ImageURL: f.ImageURL, Author: f.Author}
		if f.ButtonTitle != "" || f.ButtonURL != "" {
			t.Buttons = []broadcast.Button{{Title: f.ButtonTitle, URL: f.ButtonURL}}
		}
		if f.Acknowledge {
			t.Acknowledge = &broadcast.Acknowledge{Title: f.AckTitle}
		}
		m.Template = t
	case "card":
		if strings.TrimSpace(f.Card) != "" {
			m.Card = json.RawMessage(f.Card)
			if !json.Valid(m.Card) {
				m.Card = nil // the API would refuse the whole body: say it at the field
			}
		}
	default:
		m.Text = f.Text
	}
	if f.Silent {
		notify := false
		m.Notify = &notify
	}
	return m
}

// audience is the form's audience but a CSV's (uploaded as its own part).
// problems names what the form can tell before the API does.
func (f composeForm) audience(problems map[string]string) broadcast.Audience {
	var a broadcast.Audience
	switch f.Audience {
	case "all":
		a.AllUsers = true
	case "groups":
		a.GroupIDs = groupIDs(f.Groups)
		if a.GroupIDs == nil {
			a.GroupIDs = []string{} // the API says it is empty
		}
	case "users":
		a.UserIDs, a.UPNs = usersOf(f.Users)
		if a.UserIDs == nil && a.UPNs == nil {
			a.UserIDs = []string{}
		}
	case "csv":
	default:
		problems["audience"] = "choose who gets it"
	}
	a.IncludeGuests = f.IncludeGuests && (a.AllUsers || a.GroupIDs != nil)
	a.Exclude.GroupIDs = groupIDs(f.ExcludeGroups)
	a.Exclude.UserIDs, a.Exclude.UPNs = usersOf(f.ExcludeUsers)
	return a
}

// cardProblem is the form's own problem with a raw card, if any.
func (f composeForm) cardProblem() string {
	switch {
	case f.Kind != "card":
		return ""
	case strings.TrimSpace(f.Card) == "":
		return "paste an Adaptive Card (JSON), such as one made in the Adaptive Cards designer"
	case !json.Valid([]byte(f.Card)):
		return "not valid JSON: paste the card's JSON as the designer shows it"
	}
	return ""
}

// fieldOf maps a field the API names to the form's field.
func fieldOf(apiField string, f composeForm) string {
	switch {
	case apiField == "message.text":
		return "text"
	case apiField == "message":
		switch f.Kind {
		case "template":
			return "title"
		case "card":
			return "card"
		}
		return "text"
	case strings.HasPrefix(apiField, "message.card"):
		return "card"
	case apiField == "message.template.title", apiField == "message.template":
		return "title"
	case apiField == "message.template.summary":
		return "summary"
	case apiField == "message.template.imageUrl":
		return "imageUrl"
	case apiField == "message.template.author":
		return "author"
	case strings.HasPrefix(apiField, "message.template.acknowledge"):
		return "ackTitle"
	case strings.HasPrefix(apiField, "message.template.buttons[0].url"):
		return "buttonUrl"
	case strings.HasPrefix(apiField, "message.template.buttons"):
		return "buttonTitle"
	case strings.HasPrefix(apiField, "audience.exclude.groupIds"):
		return "excludeGroups"
	case strings.HasPrefix(apiField, "audience.exclude"):
		return "excludeUsers"
	case strings.HasPrefix(apiField, "audience.groupIds"):
		return "groups"
	case strings.HasPrefix(apiField, "audience.userIds"), strings.HasPrefix(apiField, "audience.upns"):
		if f.Audience == "csv" {
			return "csv"
		}
		return "users"
	case apiField == "recipients":
		return "csv"
	case strings.HasPrefix(apiField, "audience"):
		return "audience"
	case apiField == "priority":
		return "priority"
	case apiField == "sendAt":
		return "sendAt"
	case apiField == "as":
		return "previewAs"
	}
	return ""
}

// placeProblems puts the API's problems at their form fields.
func placeProblems(e *apiError, f composeForm, d *composeData) {
	for _, fe := range e.Fields {
		if k := fieldOf(fe.Field, f); k != "" && d.Problems[k] == "" {
			d.Problems[k] = fe.Problem
		} else if k == "" {
			d.Other = append(d.Other, fe.Field+": "+fe.Problem)
		}
	}
	if len(e.Fields) == 0 {
		d.Other = append(d.Other, e.Message)
	}
}

// createCompose creates the broadcast through the API (POST
// /v1/broadcasts: its policy, validation and audit), as JSON, or as
// multipart with the CSV uploaded. The API's problems are shown at their
// fields.
func (c *Console) createCompose(w http.ResponseWriter, r *http.Request, s *session) {
	f := readComposeForm(r)
	d := c.composeData(s, f)
	req := broadcast.CreateRequest{Message: f.message(), Audience: f.audience(d.Problems), Priority: broadcast.Priority(f.Priority)}
	if p := f.cardProblem(); p != "" {
		d.Problems["card"] = p
	}
	var csv io.Reader
	if f.Audience == "csv" {
		file, _, err := r.FormFile("csv")
		if err != nil {
			d.Problems["csv"] = "choose a CSV file of user ids or UPNs, one a row"
		} else {
			defer file.Close()
			csv = file
		}
	}
	if len(d.Problems) > 0 {
		c.page(w, r, s, http.StatusBadRequest, "compose", d)
		return
	}
	if f.SendAt != "" {
		at := f.SendAt
		if len(at) == len("2006-01-02T15:04") {
			at += ":00"
		}
		at += "Z"
		req.SendAt = &at
	}
	body, ctype := c.createBody(req, csv)
	var b broadcast.Broadcast
	e := c.call(r, s, http.MethodPost, "/v1/broadcasts", nil, body, ctype, &b)
	if e == nil {
		http.Redirect(w, r, "/broadcasts/"+url.PathEscape(b.ID), http.StatusSeeOther)
		return
	}
	if e.Status != http.StatusBadRequest && e.Status != http.StatusUnprocessableEntity && e.Status != http.StatusRequestEntityTooLarge {
		c.apiFailed(w, r, s, e)
		return
	}
	placeProblems(e, f, &d)
	c.page(w, r, s, e.Status, "compose", d)
}

// createBody is the create's JSON, or multipart with the CSV as the part
// "recipients" (the API's upload, api/upload.go).
func (c *Console) createBody(req broadcast.CreateRequest, csv io.Reader) (io.Reader, string) {
	js, _ := json.Marshal(req)
	if csv == nil {
		return bytes.NewReader(js), "application/json"
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, _ := mw.CreateFormField("broadcast")
	_, _ = pw.Write(js)
	fw, _ := mw.CreateFormFile("recipients", "recipients.csv")
	_, _ = io.Copy(fw, csv)
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}

// previewToSelf sends the draft to the signed-in user (POST /v1/previews)
// and shows the form again as it was, with what happened.
func (c *Console) previewToSelf(w http.ResponseWriter, r *http.Request, s *session) {
	f := readComposeForm(r)
	d := c.composeData(s, f)
	if p := f.cardProblem(); p != "" {
		d.Problems["card"] = p
		c.page(w, r, s, http.StatusBadRequest, "compose", d)
		return
	}
	body, _ := json.Marshal(broadcast.DraftPreviewRequest{TenantID: c.cfg.Tenant, Message: f.message(), To: s.Name})
	var p broadcast.Broadcast
	if e := c.call(r, s, http.MethodPost, "/v1/previews", nil, bytes.NewReader(body), "application/json", &p); e != nil {
		if e.Status != http.StatusBadRequest && e.Status != http.StatusUnprocessableEntity {
			c.apiFailed(w, r, s, e)
			return
		}
		placeProblems(e, f, &d)
		c.page(w, r, s, e.Status, "compose", d)
		return
	}
	d.Notice = "A preview is on its way to you in Teams (" + s.Name + "). Nothing was sent to the audience."
	c.page(w, r, s, http.StatusOK, "compose", d)
}

// renderAnswer is what the live preview gets: the card to render (none
// for text), the text of a text message, the budget, and the problems by
// form field.
type renderAnswer struct {
	Card     json.RawMessage   `json:"card,omitempty"`
	Text     string            `json:"text,omitempty"`
	Units    int               `json:"units"`
	MaxUnits int               `json:"maxUnits"`
	As       string            `json:"as,omitempty"`
	Problems map[string]string `json:"problems"`
	Other    []string          `json:"other,omitempty"`
}

// renderCompose renders the form's message for the live preview through
// the API (POST /v1/tenants/{tenant}/render): the senders' rendering,
// personalised as the chosen user.
func (c *Console) renderCompose(w http.ResponseWriter, r *http.Request, s *session) {
	f := readComposeForm(r)
	d := c.composeData(s, f)
	out := renderAnswer{Problems: d.Problems}
	if p := f.cardProblem(); p != "" {
		out.Problems["card"] = p
		writeJSON(w, http.StatusOK, out)
		return
	}
	req := broadcast.RenderRequest{Message: f.message(), As: strings.TrimSpace(f.PreviewAs)}
	var got broadcast.Rendering
	path := "/v1/tenants/" + url.PathEscape(c.cfg.Tenant) + "/render"
	body, _ := json.Marshal(req)
	e := c.call(r, s, http.MethodPost, path, nil, bytes.NewReader(body), "application/json", &got)
	if e != nil && e.Status == http.StatusUnprocessableEntity && e.field("as") != "" {
		// A user the cache lacks: the problem at its field, the preview
		// with its placeholders as they are.
		out.Problems["previewAs"] = e.field("as")
		req.As = ""
		body, _ = json.Marshal(req)
		e = c.call(r, s, http.MethodPost, path, nil, bytes.NewReader(body), "application/json", &got)
	}
	switch {
	case e == nil:
	case e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity:
		placeProblems(e, f, &d)
		out.Other = d.Other
		writeJSON(w, http.StatusOK, out)
		return
	default:
		writeJSON(w, e.Status, out.failed(e))
		return
	}
	out.Card, out.Units, out.MaxUnits = got.Card, got.Units, got.MaxUnits
	if got.As != nil {
		out.As = got.As.DisplayName
	}
	if got.Card == nil {
		var a struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(got.Activity, &a)
		out.Text = a.Text
	}
	if out.Units > out.MaxUnits {
		out.Problems[fieldOf("message", f)] = "over Teams' budget of 80 KB: shorten the message"
	}
	writeJSON(w, http.StatusOK, out)
}

func (a renderAnswer) failed(e *apiError) renderAnswer {
	a.Other = append(a.Other, e.Message)
	return a
}

// sizeAnswer is the audience's size as the compose page shows it.
type sizeAnswer struct {
	Size     *broadcast.AudienceSize `json:"size,omitempty"`
	Problems map[string]string       `json:"problems"`
	Other    []string                `json:"other,omitempty"`
}

// audienceSize counts the form's audience through the API (POST
// /v1/tenants/{tenant}/audience-size). A CSV is counted when uploaded, by
// the create.
func (c *Console) audienceSize(w http.ResponseWriter, r *http.Request, s *session) {
	f := readComposeForm(r)
	d := c.composeData(s, f)
	out := sizeAnswer{Problems: d.Problems}
	a := f.audience(d.Problems)
	if f.Audience == "csv" || len(d.Problems) > 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	body, _ := json.Marshal(broadcast.SizeRequest{Audience: a})
	var got broadcast.AudienceSize
	e := c.call(r, s, http.MethodPost, "/v1/tenants/"+url.PathEscape(c.cfg.Tenant)+"/audience-size", nil, bytes.NewReader(body), "application/json", &got)
	switch {
	case e == nil:
		out.Size = &got
	case e.Status == http.StatusBadRequest:
		placeProblems(e, f, &d)
		out.Other = d.Other
	default:
		out.Other = append(out.Other, e.Message)
		writeJSON(w, e.Status, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// lines splits s at newlines and commas, dropping blanks.
func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var guidIn = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// groupIDs reads groups one a line: a line the group search filled in is
// "name (id)", whose id is taken; any other line goes to the API as it is.
func groupIDs(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if id := guidIn.FindString(l); id != "" {
			out = append(out, id)
			continue
		}
		out = append(out, lines(l)...)
	}
	return out
}

// usersOf splits users one a line into ids and UPNs.
func usersOf(s string) (ids, upns []string) {
	for _, u := range lines(s) {
		if _, err := uuid.Parse(u); err == nil {
			ids = append(ids, u)
		} else {
			upns = append(upns, u)
		}
	}
	return ids, upns
}

// groupsAnswer is the groups the compose page's search found.
type groupsAnswer struct {
	Groups  []store.GroupName `json:"groups"`
	Message string            `json:"message,omitempty"`
}

// findGroups finds groups by name through the API (GET
// /v1/tenants/{tenant}/groups).
func (c *Console) findGroups(w http.ResponseWriter, r *http.Request, s *session) {
	var page api.GroupsPage
	q := url.Values{"search": {r.URL.Query().Get("q")}, "limit": {"10"}}
	if e := c.call(r, s, http.MethodGet, "/v1/tenants/"+url.PathEscape(c.cfg.Tenant)+"/groups", q, nil, "", &page); e != nil {
		writeJSON(w, e.Status, groupsAnswer{Message: e.Message})
		return
	}
	out := groupsAnswer{Groups: page.Groups}
	if len(out.Groups) == 0 {
		out.Message = "No group of the directory cache has that in its name. Groups are cached when the directory syncs (at a broadcast to all users)."
	}
	writeJSON(w, http.StatusOK, out)
}
