package broadcast

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Approval is the four-eyes record of a broadcast the approval policy
// held back: why (Rule), and, once an approver decided, the decision.
type Approval struct {
	// Rule is the policy's rule that wanted an approval, e.g. "all-users"
	// or "audience-over:500".
	Rule string `json:"rule"`
	// Decision is approved or rejected; empty while it waits.
	Decision Decision `json:"decision,omitempty"`
	// By is the approver's key (or console user), At when it decided.
	By      string     `json:"by,omitempty"`
	At      *time.Time `json:"at,omitempty"`
	Comment string     `json:"comment,omitempty"`
	// RequestID is the broadcast (of kind approval_request) that told the
	// approvers in Teams; absent when none are configured.
	RequestID string `json:"requestId,omitempty"`
}

// Decision is an approver's verdict.
type Decision string

const (
	DecisionApproved Decision = "approved"
	DecisionRejected Decision = "rejected"
)

// MaxCommentChars bounds an approval's or a rejection's comment.
const MaxCommentChars = 1000

// DecisionRequest is the body of POST /v1/broadcasts/{id}/approve and
// /reject: {"comment": "..."}, required for a rejection.
type DecisionRequest struct {
	Comment string `json:"comment"`
	// By is the name of the key deciding: set by the API, never read
	// from the body.
	By string `json:"-"`
}

// DecodeDecisionRequest reads an approval (d approved; an empty body is
// an approval without comment) or a rejection (a comment is required).
func DecodeDecisionRequest(r io.Reader, d Decision) (*DecisionRequest, error) {
	var req DecisionRequest
	body, err := io.ReadAll(r) // the caller bounds r
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if d == DecisionRejected || len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(bytes.NewReader(body), &req); err != nil {
			return nil, err
		}
	}
	req.Comment = strings.TrimSpace(req.Comment)
	switch n := utf8.RuneCountInString(req.Comment); {
	case !utf8.ValidString(req.Comment):
		return nil, Invalid("comment", "not valid UTF-8")
	case n > MaxCommentChars:
		return nil, Invalid("comment", "%d characters: at most %d", n, MaxCommentChars)
	case n == 0 && d == DecisionRejected:
		return nil, Invalid("comment", "required: say why the broadcast is rejected")
	}
	return &req, nil
}

// ForbiddenError is a call the caller's role allows but this broadcast
// refuses to this caller, such as an author approving their own
// broadcast: the API answers 403 with Code.
type ForbiddenError struct {
	Code    string // stable, for clients: own_broadcast
	Message string
}

func (e *ForbiddenError) Error() string { return e.Message }

// ApprovalPolicy says which broadcasts wait for an approver before
// anything is sent (APPROVAL_REQUIRED). Its zero value needs no approval.
//
// What it looks at is what is known when the broadcast is created, before
// its audience is resolved: whether it is for all users, and the users it
// lists by id or UPN. The size of a group is not known then (it is
// resolved at expansion), so under audience-over:N an audience that names
// a group counts as over N, as an all-users one does.
type ApprovalPolicy struct {
	// Always: every broadcast; AllUsers: every all-users broadcast.
	Always, AllUsers bool
	// Over, when positive, holds back an audience of more than Over users
	// (or of unknown size: all users, groups).
	Over int
}

// ParseApprovalPolicy reads a policy: "never" (or empty), "always", or a
// comma-separated list of rules, "all-users" and "audience-over:N" (N a
// whole number of users, at least 1). A broadcast needs approval when any
// rule holds.
func ParseApprovalPolicy(s string) (ApprovalPolicy, error) {
	var p ApprovalPolicy
	s = strings.TrimSpace(s)
	switch s {
	case "", "never":
		return p, nil
	case "always":
		return ApprovalPolicy{Always: true}, nil
	}
	for _, rule := range strings.Split(s, ",") {
		rule = strings.TrimSpace(rule)
		if n, ok := strings.CutPrefix(rule, "audience-over:"); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 1 {
				return ApprovalPolicy{}, fmt.Errorf("rule %q: want audience-over:N, N a whole number of users from 1", rule)
			}
			p.Over = v
			continue
		}
		if rule != "all-users" {
			return ApprovalPolicy{}, fmt.Errorf("rule %q: want never, always, or rules from all-users and audience-over:N, comma separated", rule)
		}
		p.AllUsers = true
	}
	return p, nil
}

// String is the policy as ParseApprovalPolicy reads it.
func (p ApprovalPolicy) String() string {
	switch {
	case p.Always:
		return "always"
	case !p.AllUsers && p.Over <= 0:
		return "never"
	}
	var rules []string
	if p.AllUsers {
		rules = append(rules, "all-users")
	}
	if p.Over > 0 {
		rules = append(rules, "audience-over:"+strconv.Itoa(p.Over))
	}
	return strings.Join(rules, ",")
}

// Requires returns the rule that holds a broadcast to a for approval, or
// "" when it needs none.
func (p ApprovalPolicy) Requires(a Audience) string {
	switch {
	case p.Always:
		return "always"
	case p.AllUsers && a.AllUsers:
		return "all-users"
	case p.Over > 0 && (a.AllUsers || len(a.GroupIDs) > 0 || a.ListedUsers() > p.Over):
		return "audience-over:" + strconv.Itoa(p.Over)
	}
	return ""
}

// ListedUsers is the number of users the audience names by id or UPN.
func (a Audience) ListedUsers() int { return len(a.UserIDs) + len(a.UPNs) }

// SizeAtCreate describes the audience's size as it is known before it is
// resolved: "all users", or the users listed and the groups named.
func (a Audience) SizeAtCreate() string {
	if a.AllUsers {
		return "all users"
	}
	var parts []string
	if n := a.ListedUsers(); n > 0 {
		parts = append(parts, plural(n, "user"))
	}
	if n := len(a.GroupIDs); n > 0 {
		parts = append(parts, plural(n, "group")+" (their size is known once resolved)")
	}
	s := strings.Join(parts, " and ")
	if !a.Exclude.Empty() {
		s += ", with exclusions"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
