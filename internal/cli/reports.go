package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func (a *app) listCmd() *cobra.Command {
	var status, kind, after, before string
	var limit int
	var all, asJSON, pending bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List broadcasts, newest first",
		Long: `List the broadcasts of the tenant (--tenant; every tenant when unset), newest
first, as a table or, with --json, as the API's JSON. --limit caps the rows
(default 50); --all lists every broadcast that matches, page by page.`,
		Example: `  bcast list
  bcast list --status sending
  bcast list --kind preview --created-after 2026-12-01T00:00:00Z --json
  bcast list --status completed --all
  bcast list --pending`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError("--limit: must be at least 1, got %d", limit)
			}
			if pending {
				if status != "" && status != string(broadcast.StatusPendingApproval) {
					return usageError("--pending lists the broadcasts pending approval: drop --status %s", status)
				}
				status = string(broadcast.StatusPendingApproval)
			}
			q := url.Values{}
			for k, v := range map[string]string{"tenantId": a.tenant, "status": status, "kind": kind, "createdAfter": after, "createdBefore": before} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var out []Broadcast
			for {
				want := limit - len(out)
				if all {
					want = 500
				}
				q.Set("limit", strconv.Itoa(min(want, 500)))
				var page struct {
					Broadcasts []Broadcast `json:"broadcasts"`
					NextCursor string      `json:"nextCursor"`
				}
				if _, err := a.client.do(cmd.Context(), request{method: http.MethodGet, path: "/v1/broadcasts", query: q}, &page); err != nil {
					return err
				}
				out = append(out, page.Broadcasts...)
				// A filtered page may be short and still have a cursor.
				if page.NextCursor == "" || (!all && len(out) >= limit) {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				if out == nil {
					out = []Broadcast{}
				}
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tSTATUS\tKIND\tPRIORITY\tTOTAL\tSENT\tBLOCKED\tFAILED\tMESSAGE")
			for _, b := range out {
				k := b.Kind
				if k == "" {
					k = "broadcast"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", b.ID, b.CreatedAt.Local().Format("2006-01-02 15:04"), b.Status, k, b.Priority,
					b.Size(), b.Counts.Sent, b.Counts.Blocked, b.Counts.Failed, messageGist(b.Message))
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&status, "status", "", "only this status: scheduled, expanding, sending, completed, canceling, canceled, failed, pending_approval, rejected")
	fs.BoolVar(&pending, "pending", false, "only those waiting for approval (--status pending_approval)")
	fs.StringVar(&kind, "kind", "", "only this kind: broadcast, preview or approval_request")
	fs.StringVar(&after, "created-after", "", "only those created after this RFC 3339 `TIME`")
	fs.StringVar(&before, "created-before", "", "only those created before this RFC 3339 `TIME`")
	fs.IntVar(&limit, "limit", 50, "at most this many")
	fs.BoolVar(&all, "all", false, "every broadcast that matches (ignores --limit)")
	fs.BoolVar(&asJSON, "json", false, "print JSON (an array of broadcasts) instead of a table")
	return cmd
}

// messageGist is the start of a message's text, or what it is.
func messageGist(raw json.RawMessage) string {
	var m struct {
		Text     string          `json:"text"`
		Card     json.RawMessage `json:"card"`
		Template *struct {
			Title string `json:"title"`
		} `json:"template"`
	}
	_ = json.Unmarshal(raw, &m)
	s := m.Text
	switch {
	case s == "" && m.Template != nil:
		s = m.Template.Title
	case s == "" && len(m.Card) > 0:
		s = "(card)"
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 40 {
		s = string(r[:39]) + "…"
	}
	return s
}

// output opens -o FILE (standard output for "" or "-"); the file is
// written whole or removed.
func (a *app) output(path string) (w io.Writer, done func(ok bool) error, err error) {
	if path == "" || path == "-" {
		return a.out, func(bool) error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, usageError("-o: %v", err)
	}
	return f, func(ok bool) error {
		err := f.Close()
		if !ok {
			_ = os.Remove(path)
			return nil
		}
		return err
	}, nil
}

func (a *app) exportCmd() *cobra.Command {
	var out, state string
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Write a broadcast's recipients as CSV",
		Long: `Export every recipient of a broadcast as CSV (RFC 4180): userId,
userPrincipalName, displayName, state, reason, attempts, activityId,
updatedAt. The API streams it, so a large audience is written as it comes.
A transfer cut short is an error and leaves no file behind.`,
		Example: `  bcast export 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d -o report.csv
  bcast export 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --state failed | head`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			w, done, err := a.output(out)
			if err != nil {
				return err
			}
			err = a.client.stream(cmd.Context(), request{method: http.MethodGet, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/export", query: q}, w)
			if cerr := done(err == nil); err == nil {
				err = cerr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of standard output")
	cmd.Flags().StringVar(&state, "state", "", "only recipients in this state (sent, blocked, failed, ...)")
	return cmd
}

func (a *app) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a broadcast (or a scheduled one before it starts)",
		Long: `Cancel a broadcast: its expansion stops, its queued messages are dropped and
every recipient not yet sent ends canceled. A scheduled broadcast is canceled
before it starts. A completed broadcast cannot be canceled.`,
		Example: `  bcast cancel 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b Broadcast
			if _, err := a.client.do(cmd.Context(), request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/cancel"}, &b); err != nil {
				return err
			}
			a.printf("%s %s: %s\n", b.ID, b.Status, countsLine(&b))
			return nil
		},
	}
}

func (a *app) replayCmd() *cobra.Command {
	var reasons, users []string
	var includeBlocked bool
	var w watchFlags
	cmd := &cobra.Command{
		Use:   "replay ID",
		Short: "Send again to the recipients that failed",
		Long: `Replay a broadcast's failures that may pass now (Teams' errors, throttling,
failed installs), as a numbered round; never twice to one recipient in a
round. --reason and --user narrow it; --include-blocked also tries the users
who blocked the bot or whose admin disabled it.
Reasons: retries_exhausted, service_error, throttled, install_failed,
not_installed, user_not_found, unauthorized, internal_error, blocked_by_user,
bot_disabled.`,
		Example: `  bcast replay 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d
  bcast replay 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --reason retries_exhausted --reason throttled --watch
  bcast replay 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --user 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 --include-blocked`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			if len(reasons) > 0 {
				body["reasons"] = reasons
			}
			if len(users) > 0 {
				body["userIds"] = users
			}
			if includeBlocked {
				body["includeBlocked"] = true
			}
			var res struct {
				Round      int   `json:"round"`
				Queued     int64 `json:"queued"`
				Skipped    int64 `json:"skipped"`
				Incomplete bool  `json:"incomplete"`
			}
			if _, err := a.client.do(cmd.Context(), request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(args[0]) + "/replay", json: body}, &res); err != nil {
				return err
			}
			a.printf("replay round %d: %d queued, %d skipped\n", res.Round, res.Queued, res.Skipped)
			if res.Incomplete {
				a.printf("the replay stopped before the end (the service lost Redis or NATS): run it again to queue the rest\n")
			}
			if w.watch {
				return a.watch(cmd.Context(), args[0], &w)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&reasons, "reason", nil, "only recipients that failed for this `REASON` (repeat)")
	fs.StringArrayVar(&users, "user", nil, "only this user `ID` (repeat)")
	fs.BoolVar(&includeBlocked, "include-blocked", false, "also the users who blocked the bot or whose admin disabled it")
	w.add(fs, true)
	return cmd
}

func (a *app) unreachableCmd() *cobra.Command {
	var format, out string
	var limit int
	cmd := &cobra.Command{
		Use:   "unreachable",
		Short: "List the users who blocked or uninstalled the bot",
		Long: `List the tenant's users whom broadcasts could not reach because they blocked
the bot, their admin disabled it, or the app is uninstalled, across
broadcasts: the reason, the last broadcast, when, and how many broadcasts
missed them. A user a later broadcast reaches leaves the list. --format csv
writes every one of them as CSV.`,
		Example: `  bcast unreachable --tenant 9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90
  bcast unreachable --format csv -o unreachable.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.tenant == "" {
				return usageError("--tenant (or BCAST_TENANT) is required: the report is per tenant")
			}
			path := "/v1/tenants/" + url.PathEscape(a.tenant) + "/unreachable"
			switch format {
			case "csv":
				w, done, err := a.output(out)
				if err != nil {
					return err
				}
				err = a.client.stream(cmd.Context(), request{method: http.MethodGet, path: path, query: url.Values{"format": {"csv"}}}, w)
				if cerr := done(err == nil); err == nil {
					err = cerr
				}
				return err
			case "table", "json":
			default:
				return usageError("--format: table, json or csv, got %q", format)
			}
			type user struct {
				UserID            string    `json:"userId"`
				UserPrincipalName string    `json:"userPrincipalName"`
				DisplayName       string    `json:"displayName"`
				Reason            string    `json:"reason"`
				BroadcastID       string    `json:"broadcastId"`
				At                time.Time `json:"at"`
				Times             int       `json:"times"`
			}
			var users []user
			q := url.Values{}
			for len(users) < limit {
				q.Set("limit", strconv.Itoa(min(limit-len(users), 1000)))
				var page struct {
					Users      []user `json:"users"`
					NextCursor string `json:"nextCursor"`
				}
				if _, err := a.client.do(cmd.Context(), request{method: http.MethodGet, path: path, query: q}, &page); err != nil {
					return err
				}
				users = append(users, page.Users...)
				if page.NextCursor == "" {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			w, done, err := a.output(out)
			if err != nil {
				return err
			}
			if format == "json" {
				if users == nil {
					users = []user{}
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(users)
			} else {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "USER ID\tUPN\tNAME\tREASON\tLAST BROADCAST\tAT\tTIMES")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", u.UserID, u.UserPrincipalName, u.DisplayName, u.Reason, u.BroadcastID,
						u.At.Local().Format("2006-01-02 15:04"), u.Times)
				}
				err = tw.Flush()
			}
			if cerr := done(err == nil); err == nil {
				err = cerr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table, json or csv")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of standard output")
	cmd.Flags().IntVar(&limit, "limit", 1000, "with table or json: at most this many users")
	return cmd
}
