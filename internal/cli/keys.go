package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func (a *app) keygenCmd() *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Mint an API key (offline: the dispatcher is not called)",
		Long: `Mint a random API key for --name with --role (viewer, author, approver or admin). Two
lines go to standard output: the key, shown this once (give it to whoever
will call the API, as BCAST_API_KEY or a bearer token), and the line to add
to the dispatcher's API_KEYS_FILE (or API_KEYS): the key's name, role and
SHA-256. The dispatcher never sees the key itself; it reads its keys at
start-up, so restart it after adding the line.

viewer reads; author also creates broadcasts and previews, and cancels and
previews its own broadcasts; admin may do everything (replay, edit, recall,
anyone's broadcast, the audit log).`,
		Example: `  bcast keygen --name hr-system --role author
  bcast keygen --name ops --role admin | tail -1 >> /etc/broadcast/api-keys`,
		Args: cobra.NoArgs,
		// No API call: neither --api nor a key is needed.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("--role: %s", err)
			}
			token, k, err := auth.Generate(name, r)
			if err != nil {
				return usageError("--name: %s", err)
			}
			a.printf("%s\n%s\n", token, k.Line())
			fmt.Fprintf(a.errOut, "The first line is the API key of %q (%s), shown only now: give it to its user (BCAST_API_KEY).\n"+
				"The second goes in the dispatcher's API_KEYS_FILE (or API_KEYS); restart the dispatcher to load it.\n", name, r)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "who the key is for: the `NAME` the audit log records (letters, digits, . _ @ -)")
	fs.StringVar(&role, "role", "", "viewer, author, approver or admin")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func (a *app) auditCmd() *cobra.Command {
	var broadcastID, actor string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log, newest first (admin key)",
		Long: `List the API's audit log, newest first: every state-changing call (create,
preview, cancel, replay, edit, recall), refused ones (403) included, with who
made it, when, on which broadcast, and the status answered. --broadcast and
--actor filter; --limit caps the rows (default 50).`,
		Example: `  bcast audit
  bcast audit --broadcast 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d
  bcast audit --actor hr-system --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError("--limit: must be at least 1, got %d", limit)
			}
			q := url.Values{}
			if broadcastID != "" {
				q.Set("broadcastId", broadcastID)
			}
			if actor != "" {
				q.Set("actor", actor)
			}
			out := []broadcast.AuditEntry{}
			for len(out) < limit {
				q.Set("limit", strconv.Itoa(min(limit-len(out), 1000)))
				var page struct {
					Entries    []broadcast.AuditEntry `json:"entries"`
					NextCursor string                 `json:"nextCursor"`
				}
				if _, err := a.client.do(cmd.Context(), request{method: http.MethodGet, path: "/v1/audit", query: q}, &page); err != nil {
					return err
				}
				out = append(out, page.Entries...)
				if page.NextCursor == "" {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tROLE\tACTION\tSTATUS\tBROADCAST\tREQUEST")
			for _, e := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.Format(time.RFC3339Nano), e.Actor, e.Role, e.Action, e.Status, e.BroadcastID, e.RequestID)
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&broadcastID, "broadcast", "", "only the entries of this broadcast `ID`")
	fs.StringVar(&actor, "actor", "", "only the entries of this key `NAME`")
	fs.IntVar(&limit, "limit", 50, "at most this many entries")
	fs.BoolVar(&asJSON, "json", false, "print the entries as JSON")
	return cmd
}
