package config

import (
	"fmt"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Approval is the dispatcher's four-eyes rule.
type Approval struct {
	// Policy (APPROVAL_REQUIRED) names the broadcasts that wait for an
	// approver: never (the default), always, or all-users and
	// audience-over:N, comma separated (broadcast.ParseApprovalPolicy).
	Policy broadcast.ApprovalPolicy
	// Notify (APPROVAL_NOTIFY) are the Entra object ids, comma separated,
	// of the approvers the bot tells in Teams of each broadcast waiting.
	Notify []string
	// ConsoleURL is the console's base URL (Console.URL), which the
	// approval request's button links to; empty (no console): no button.
	ConsoleURL string
}

func (r *reader) approval() Approval {
	var a Approval
	p, err := broadcast.ParseApprovalPolicy(r.str("APPROVAL_REQUIRED", ""))
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("APPROVAL_REQUIRED: %w", err))
	}
	a.Policy = p
	for _, id := range strings.Split(r.str("APPROVAL_NOTIFY", ""), ",") {
		id = strings.ToLower(strings.TrimSpace(id))
		switch {
		case id == "":
		case !broadcast.IsGUID(id):
			r.errs = append(r.errs, fmt.Errorf("APPROVAL_NOTIFY: %q is not an Entra object id (a GUID)", id))
		default:
			a.Notify = append(a.Notify, id)
		}
	}
	if len(a.Notify) > 0 && a.Policy == (broadcast.ApprovalPolicy{}) {
		r.errs = append(r.errs, fmt.Errorf("APPROVAL_NOTIFY: approvers to tell, but APPROVAL_REQUIRED holds nothing back: set it, or leave APPROVAL_NOTIFY empty"))
	}
	return a
}
