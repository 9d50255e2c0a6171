package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/spf13/pflag"
)

// messageFlags build a message: text, a card file, or a template.
type messageFlags struct {
	text, card                    string
	title, summary, image, author string
	buttons                       []string
	noNotify                      bool
}

func (m *messageFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&m.text, "text", "", "the message as markdown (with --card: the notification's preview)")
	fs.StringVar(&m.card, "card", "", "an Adaptive Card JSON `FILE` to send (- reads standard input)")
	fs.StringVar(&m.title, "title", "", "template: the title")
	fs.StringVar(&m.summary, "summary", "", "template: the body, markdown")
	fs.StringVar(&m.image, "image", "", "template: an image `URL`")
	fs.StringVar(&m.author, "author", "", "template: the author line")
	fs.StringArrayVar(&m.buttons, "button", nil, `template: a button "Title=https://..." (repeat, at most 6)`)
	fs.BoolVar(&m.noNotify, "no-notify", false, "send without an activity-feed notification")
}

func (m *messageFlags) template() bool {
	return m.title != "" || m.summary != "" || m.image != "" || m.author != "" || len(m.buttons) > 0
}

// build returns the message object; the API checks the rules (exactly one
// of text, card, template; placeholders), and names what it refuses.
func (m *messageFlags) build(stdin io.Reader) (map[string]any, error) {
	msg := map[string]any{}
	if m.text != "" {
		msg["text"] = m.text
	}
	if m.card != "" {
		var raw []byte
		var err error
		if m.card == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(m.card)
		}
		if err != nil {
			return nil, usageError("--card: %v", err)
		}
		if !json.Valid(raw) {
			return nil, usageError("--card: %s is not JSON", m.card)
		}
		msg["card"] = json.RawMessage(raw)
	}
	if m.template() {
		t := map[string]any{}
		for k, v := range map[string]string{"title": m.title, "summary": m.summary, "imageUrl": m.image, "author": m.author} {
			if v != "" {
				t[k] = v
			}
		}
		var buttons []map[string]string
		for _, b := range m.buttons {
			title, link, ok := strings.Cut(b, "=")
			if !ok || strings.TrimSpace(title) == "" {
				return nil, usageError(`--button: want "Title=https://...", got %q`, b)
			}
			if u, err := url.Parse(link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, usageError(`--button %q: the link must be an http(s) URL`, b)
			}
			buttons = append(buttons, map[string]string{"title": strings.TrimSpace(title), "url": link})
		}
		if buttons != nil {
			t["buttons"] = buttons
		}
		msg["template"] = t
	}
	if len(msg) == 0 {
		return nil, usageError("no message: give --text, --card FILE or template flags (--title, --summary, ...)")
	}
	if m.noNotify {
		msg["notify"] = false
	}
	return msg, nil
}

// audienceFlags build an audience.
type audienceFlags struct {
	allUsers, includeGuests                  bool
	groups, users, upns                      []string
	csv                                      string
	excludeUsers, excludeGroups, excludeUPNs []string
}

func (f *audienceFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.allUsers, "all-users", false, "every member of the tenant")
	fs.BoolVar(&f.includeGuests, "include-guests", false, "with --all-users: guests too")
	fs.StringArrayVar(&f.groups, "group", nil, "the members of an Entra group `ID` (repeat)")
	fs.StringArrayVar(&f.users, "user", nil, "an Entra user object `ID` (repeat)")
	fs.StringArrayVar(&f.upns, "upn", nil, "a user principal name (`UPN`) such as ada@contoso.com (repeat)")
	fs.StringVar(&f.csv, "csv", "", "a CSV `FILE` of recipients: a user id or UPN in the first column, under an optional header (userId, userPrincipalName, upn, email, ...)")
	fs.StringArrayVar(&f.excludeUsers, "exclude-user", nil, "leave this user `ID` out (repeat)")
	fs.StringArrayVar(&f.excludeGroups, "exclude-group", nil, "leave the members of this group `ID` out (repeat)")
	fs.StringArrayVar(&f.excludeUPNs, "exclude-upn", nil, "leave this `UPN` out (repeat)")
}

func (f *audienceFlags) build() (map[string]any, error) {
	aud := map[string]any{}
	if f.allUsers {
		aud["allUsers"] = true
	}
	if f.includeGuests {
		aud["includeGuests"] = true
	}
	for k, v := range map[string][]string{"groupIds": f.groups, "userIds": f.users, "upns": f.upns} {
		if len(v) > 0 {
			aud[k] = v
		}
	}
	ex := map[string]any{}
	for k, v := range map[string][]string{"userIds": f.excludeUsers, "groupIds": f.excludeGroups, "upns": f.excludeUPNs} {
		if len(v) > 0 {
			ex[k] = v
		}
	}
	if len(ex) > 0 {
		aud["exclude"] = ex
	}
	if len(aud) == 0 && f.csv == "" {
		return nil, usageError("no audience: give --all-users, --group, --user, --upn or --csv FILE")
	}
	return aud, nil
}

// createFlags are those of create, schedule and preview-by-message.
type createFlags struct {
	msg      messageFlags
	aud      audienceFlags
	priority string
	sendAt   string
	// localTime is a wall-clock time in each recipient's own zone.
	localTime string
	key       string
	watch     watchFlags
}

// parseSendAt reads an RFC 3339 time, or a duration from now (90m, 2h).
func parseSendAt(s string, now time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d).UTC().Truncate(time.Second).Format(time.RFC3339), nil
	}
	return "", usageError("--send-at: want an RFC 3339 time (2026-12-02T09:00:00Z) or a duration from now (90m), got %q", s)
}

func (a *app) createCmd() *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a broadcast: a message and an audience",
		Long: `Create a broadcast and print its id. The message is --text (markdown), --card
FILE (an Adaptive Card), or a template (--title, --summary, --image, --author,
--button). Placeholders such as {{displayName}} are filled per recipient.
The audience combines --all-users, --group, --user, --upn and --csv FILE,
less the --exclude-* ones. --watch then follows it as 'bcast status --watch'.`,
		Example: `  bcast create --text "The office is closed on Friday." --all-users
  bcast create --title "Benefits" --summary "Hello {{givenName}}, enrolment is open." \
    --button "Enrol=https://hr.contoso.com/enrol" --group 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 --watch
  bcast create --card card.json --csv recipients.csv --exclude-upn ceo@contoso.com
  bcast create --text "Fire drill at 3pm" --all-users --priority urgent --idempotency-key drill-2026-12-02`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.create(cmd, f, false) },
	}
	a.addCreateFlags(cmd, f)
	return cmd
}

func (a *app) scheduleCmd() *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Create a broadcast sent later (--send-at or --local-time required)",
		Long: `Create a broadcast that waits, status scheduled, until --send-at, then is
sent as any other; or, with --local-time, that reaches each recipient at that
time in their own time zone, zone after zone ('bcast status ID' lists the
zones). 'bcast cancel ID' before then cancels it (the zones not started yet,
with --local-time). Takes every flag of create.`,
		Example: `  bcast schedule --text "Happy new year!" --all-users --send-at 2027-01-01T09:00:00Z
  bcast schedule --text "Reminder: timesheets" --group 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 --send-at 2h
  bcast schedule --text "Good morning!" --all-users --local-time 2026-12-08T09:00`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.create(cmd, f, true) },
	}
	a.addCreateFlags(cmd, f)
	return cmd
}

func (a *app) addCreateFlags(cmd *cobra.Command, f *createFlags) {
	fs := cmd.Flags()
	f.msg.add(fs)
	f.aud.add(fs)
	fs.StringVar(&f.priority, "priority", "", "normal (default) or urgent: an urgent one takes most of the tenant's send rate")
	fs.StringVar(&f.sendAt, "send-at", "", "send at this RFC 3339 `TIME`, or after this duration (90m)")
	fs.StringVar(&f.localTime, "local-time", "", "send at this wall-clock `TIME` (2026-12-08T09:00) in each recipient's own time zone")
	fs.StringVar(&f.key, "idempotency-key", "", "a `KEY` that makes a retried create return the first broadcast instead of a second")
	f.watch.add(fs, true)
}

func (a *app) create(cmd *cobra.Command, f *createFlags, scheduled bool) error {
	msg, err := f.msg.build(cmd.InOrStdin())
	if err != nil {
		return err
	}
	aud, err := f.aud.build()
	if err != nil {
		return err
	}
	body := map[string]any{"message": msg, "audience": aud}
	if a.tenant != "" {
		body["tenantId"] = a.tenant
	}
	if f.priority != "" {
		body["priority"] = f.priority
	}
	at, err := parseSendAt(f.sendAt, time.Now())
	if err != nil {
		return err
	}
	switch {
	case at != "" && f.localTime != "":
		return usageError("give --send-at (one instant for everyone) or --local-time (the same time in each recipient's zone), not both")
	case scheduled && at == "" && f.localTime == "":
		return usageError("--send-at or --local-time is required")
	case at != "":
		body["sendAt"] = at
	case f.localTime != "":
		body["localTime"] = f.localTime
	}
	req := request{method: http.MethodPost, path: "/v1/broadcasts", header: http.Header{}}
	if f.key != "" {
		req.header.Set("Idempotency-Key", f.key)
	}
	if f.aud.csv != "" {
		if req.body, req.contentType, err = multipartCreate(body, f.aud.csv); err != nil {
			return err
		}
	} else {
		req.json = body
	}
	var b Broadcast
	hdr, err := a.client.do(cmd.Context(), req, &b)
	if err != nil {
		return err
	}
	a.printf("%s\n", b.ID)
	if b.Status == broadcast.StatusPendingApproval && b.Approval != nil {
		fmt.Fprintf(a.errOut, "bcast: the broadcast waits for approval (rule %s): nothing is sent before an approver runs bcast approve %s\n", b.Approval.Rule, b.ID)
	}
	if hdr.Get("Idempotent-Replayed") == "true" {
		fmt.Fprintf(a.errOut, "bcast: the Idempotency-Key %q was used before: this is that broadcast\n", f.key)
	}
	if f.watch.watch {
		return a.watch(cmd.Context(), b.ID, &f.watch)
	}
	return nil
}

// multipartCreate is the create request with a recipients CSV file: part
// broadcast (the JSON) and part recipients (the file as it is).
func multipartCreate(body map[string]any, csvPath string) (io.Reader, string, error) {
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		return nil, "", usageError("--csv: %v", err)
	}
	js, err := json.Marshal(body)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="broadcast"`)
	h.Set("Content-Type", "application/json")
	pw, err := w.CreatePart(h)
	if err == nil {
		_, err = pw.Write(js)
	}
	if err == nil {
		h = textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="recipients"; filename=%q`, filepath.Base(csvPath)))
		h.Set("Content-Type", "text/csv")
		if pw, err = w.CreatePart(h); err == nil {
			_, err = pw.Write(raw)
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, "", fmt.Errorf("build the request: %w", err)
	}
	return &buf, w.FormDataContentType(), nil
}

func (a *app) previewCmd() *cobra.Command {
	var msg messageFlags
	var to string
	var w watchFlags
	cmd := &cobra.Command{
		Use:   "preview [ID] --to USER",
		Short: "Send a broadcast's message, or a new message, to one user first",
		Long: `Send a preview to one user (an Entra user id or a UPN), personalised for
that user, through the normal pipeline: with a broadcast ID, that broadcast's
message; without, the message the message flags build (as create takes them).
Prints the preview's id (a broadcast of kind preview).`,
		Example: `  bcast preview 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --to ada@contoso.com
  bcast preview --to ada@contoso.com --title "Benefits" --summary "Hello {{givenName}}" --watch`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError("--to is required: the user id or UPN to preview for")
			}
			req := request{method: http.MethodPost}
			if len(args) == 1 {
				req.path = "/v1/broadcasts/" + url.PathEscape(args[0]) + "/preview"
				req.json = map[string]any{"to": to}
			} else {
				m, err := msg.build(cmd.InOrStdin())
				if err != nil {
					return err
				}
				body := map[string]any{"message": m, "to": to}
				if a.tenant != "" {
					body["tenantId"] = a.tenant
				}
				req.path, req.json = "/v1/previews", body
			}
			var b Broadcast
			if _, err := a.client.do(cmd.Context(), req, &b); err != nil {
				return err
			}
			a.printf("%s\n", b.ID)
			if w.watch {
				return a.watch(cmd.Context(), b.ID, &w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the user `ID` or UPN who gets the preview")
	msg.add(cmd.Flags())
	w.add(cmd.Flags(), true)
	return cmd
}

func (a *app) editCmd() *cobra.Command {
	var msg messageFlags
	cmd := &cobra.Command{
		Use:   "edit ID",
		Short: "Replace the message every recipient already got",
		Long: `Edit a sent broadcast: every recipient who got it sees the new message in
place of the old (the message flags, as create takes them). Prints the edit's
round and how many messages it queued; 'bcast status ID' shows its progress.`,
		Example: `  bcast edit 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --text "The office is closed on Friday (not Thursday)."`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := msg.build(cmd.InOrStdin())
			if err != nil {
				return err
			}
			var res struct {
				Round  int   `json:"round"`
				Queued int64 `json:"queued"`
			}
			if _, err := a.client.do(cmd.Context(), request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/edit",
				json: map[string]any{"message": m}}, &res); err != nil {
				return err
			}
			a.printf("edit round %d: %d messages queued\n", res.Round, res.Queued)
			return nil
		},
	}
	msg.add(cmd.Flags())
	return cmd
}

func (a *app) recallCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "recall ID",
		Short: "Delete the message from every recipient's chat",
		Long: `Recall a broadcast: the message is deleted from every chat it reached.
Prints how many deletes it queued; 'bcast status ID' shows its progress.`,
		Example: `  bcast recall 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Queued int64 `json:"queued"`
			}
			if _, err := a.client.do(cmd.Context(), request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/recall",
				json: map[string]any{}}, &res); err != nil {
				return err
			}
			a.printf("recall: %d deletes queued\n", res.Queued)
			return nil
		},
	}
}
