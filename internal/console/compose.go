package console

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// composeForm is the compose page's fields, as the person typed them.
type composeForm struct {
	Kind                                         string // text, template
	Text, Title, Summary, ButtonTitle, ButtonURL string
	Audience                                     string // all, groups, users, csv
	Groups, Users                                string // one a line (or comma-separated)
	SendAt                                       string // datetime-local, read as UTC
}

type composeData struct {
	F    composeForm
	CSRF string
	// Problems are the API's, by form field; Other those no field shows.
	Problems map[string]string
	Other    []string
	// CanCreate: the API's policy lets the person create broadcasts.
	CanCreate bool
}

func mayCreate(s *session) bool {
	least, _, _ := api.Policy("POST /v1/broadcasts")
	return s.Role.Allows(least)
}

func (c *Console) compose(w http.ResponseWriter, r *http.Request, s *session) {
	c.page(w, r, s, http.StatusOK, "compose", composeData{F: composeForm{Kind: "text", Audience: "all"}, CSRF: s.CSRF, CanCreate: mayCreate(s)})
}

// fieldOf maps a field the API names to the form's field.
func fieldOf(apiField string, f composeForm) string {
	switch {
	case apiField == "message.text":
		return "text"
	case apiField == "message":
		if f.Kind == "template" {
			return "title"
		}
		return "text"
	case apiField == "message.template.title", apiField == "message.template":
		return "title"
	case apiField == "message.template.summary":
		return "summary"
	case strings.HasPrefix(apiField, "message.template.buttons[0].url"):
		return "buttonUrl"
	case strings.HasPrefix(apiField, "message.template.buttons"):
		return "buttonTitle"
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
	case apiField == "sendAt":
		return "sendAt"
	}
	return ""
}

// createCompose creates the broadcast through the API (POST
// /v1/broadcasts: its policy, validation and audit), as JSON, or as
// multipart with the CSV uploaded. The API's problems are shown at their
// fields.
func (c *Console) createCompose(w http.ResponseWriter, r *http.Request, s *session) {
	f := composeForm{Kind: r.PostFormValue("kind"), Text: r.PostFormValue("text"), Title: r.PostFormValue("title"),
		Summary: r.PostFormValue("summary"), ButtonTitle: r.PostFormValue("buttonTitle"), ButtonURL: r.PostFormValue("buttonUrl"),
		Audience: r.PostFormValue("audience"), Groups: r.PostFormValue("groups"), Users: r.PostFormValue("users"),
		SendAt: r.PostFormValue("sendAt")}
	d := composeData{F: f, CSRF: s.CSRF, Problems: map[string]string{}, CanCreate: mayCreate(s)}
	req := broadcast.CreateRequest{}
	switch f.Kind {
	case "template":
		t := &broadcast.Template{Title: f.Title, Summary: f.Summary}
		if f.ButtonTitle != "" || f.ButtonURL != "" {
			t.Buttons = []broadcast.Button{{Title: f.ButtonTitle, URL: f.ButtonURL}}
		}
		req.Message.Template = t
	default:
		req.Message.Text = f.Text
	}
	var csv io.Reader
	switch f.Audience {
	case "all":
		req.Audience.AllUsers = true
	case "groups":
		req.Audience.GroupIDs = lines(f.Groups)
		if req.Audience.GroupIDs == nil {
			req.Audience.GroupIDs = []string{} // the API says it is empty
		}
	case "users":
		for _, u := range lines(f.Users) {
			if _, err := uuid.Parse(u); err == nil {
				req.Audience.UserIDs = append(req.Audience.UserIDs, u)
			} else {
				req.Audience.UPNs = append(req.Audience.UPNs, u)
			}
		}
		if req.Audience.UserIDs == nil && req.Audience.UPNs == nil {
			req.Audience.UserIDs = []string{}
		}
	case "csv":
		file, _, err := r.FormFile("csv")
		if err != nil {
			d.Problems["csv"] = "choose a CSV file of user ids or UPNs, one a row"
			c.page(w, r, s, http.StatusBadRequest, "compose", d)
			return
		}
		defer file.Close()
		csv = file
	default:
		d.Problems["audience"] = "choose who gets it"
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
