package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func (a *app) approveCmd() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a broadcast waiting for approval (approver or admin)",
		Long: `Approve a broadcast the approval policy held back (status pending_approval):
it starts now, or at its send time when that is still ahead. Needs an approver
or admin key, and not the key that created it. bcast list --pending lists the
broadcasts waiting.`,
		Example: `  bcast approve 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d
  bcast approve 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --comment "checked with legal"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args[0], "approve", comment)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (optional; at most 1000 characters)")
	return cmd
}

func (a *app) rejectCmd() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "reject ID --comment TEXT",
		Short: "Reject a broadcast waiting for approval (approver or admin)",
		Long: `Reject a broadcast the approval policy held back: it ends rejected and
nothing of it is sent; a rejection is final. --comment says why (required,
at most 1000 characters); the author sees it in the broadcast's status.`,
		Example: `  bcast reject 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --comment "Wait for the board on Friday"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if comment == "" {
				return usageError("reject: --comment is required: say why the broadcast is rejected")
			}
			return a.decide(cmd, args[0], "reject", comment)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why it is rejected (required)")
	return cmd
}

// decide approves or rejects (call) broadcast id and prints the outcome.
func (a *app) decide(cmd *cobra.Command, id, call, comment string) error {
	var b Broadcast
	req := request{method: http.MethodPost, path: "/v1/broadcasts/" + url.PathEscape(id) + "/" + call,
		json: map[string]string{"comment": comment}}
	if _, err := a.client.do(cmd.Context(), req, &b); err != nil {
		return err
	}
	a.printf("%s %s\n", b.ID, b.Status)
	if b.Approval != nil {
		a.printf("approval  %s\n", approvalLine(b.Approval))
	}
	return nil
}

// approvalLine describes a broadcast's approval for a person.
func approvalLine(ap *broadcast.Approval) string {
	if ap.Decision == "" {
		return "pending (rule " + ap.Rule + ")"
	}
	s := fmt.Sprintf("%s by %s", ap.Decision, ap.By)
	if ap.At != nil {
		s += " at " + ap.At.Format(time.RFC3339)
	}
	if ap.Comment != "" {
		s += ": " + fmt.Sprintf("%q", ap.Comment)
	}
	return s + " (rule " + ap.Rule + ")"
}
