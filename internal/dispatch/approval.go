package dispatch

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
)

// Approval is the four-eyes rule: which broadcasts wait for an approver
// (Policy), and whom the bot tells in Teams when one does.
type Approval struct {
	Policy broadcast.ApprovalPolicy
	// Notify are the Entra object ids of the approvers the bot sends an
	// approval request to (APPROVAL_NOTIFY); none: nobody is told.
	Notify []string
	// ConsoleURL is the console's base URL (CONSOLE_URL): the request's
	// button opens <ConsoleURL>/broadcasts/<id>. Empty: no button.
	ConsoleURL string
}

// approvalRequestTimeout bounds the write of an approval request, which
// runs after the broadcast is created whatever the caller's context.
const approvalRequestTimeout = 5 * time.Second

// Approve records an approver's approval of a broadcast pending approval
// and starts it: now, or at its sendAt when that is still ahead. The
// broadcast's creator gets a *broadcast.ForbiddenError, a broadcast not
// pending a *broadcast.ConflictError (see store.Decide).
func (d *Dispatcher) Approve(ctx context.Context, id string, req *broadcast.DecisionRequest) (*broadcast.Broadcast, error) {
	return d.decide(ctx, id, broadcast.DecisionApproved, req)
}

// Reject records an approver's rejection: the broadcast ends rejected,
// nothing of it sent.
func (d *Dispatcher) Reject(ctx context.Context, id string, req *broadcast.DecisionRequest) (*broadcast.Broadcast, error) {
	return d.decide(ctx, id, broadcast.DecisionRejected, req)
}

func (d *Dispatcher) decide(ctx context.Context, id string, dec broadcast.Decision, req *broadcast.DecisionRequest) (*broadcast.Broadcast, error) {
	b, err := d.served(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := d.store.Decide(ctx, id, dec, req.By, req.Comment)
	if err != nil {
		return nil, err
	}
	d.log.Info("broadcast "+string(dec), zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID),
		zap.String("by", req.By), zap.String("status", string(st)))
	if st == broadcast.StatusExpanding {
		d.start(id)
	}
	// The decision has happened: the answer says so even if the
	// broadcast cannot be read for it.
	rctx, cancel := context.WithTimeout(ctx, answerReadTimeout)
	defer cancel()
	if got, err := d.store.Broadcast(rctx, id); err == nil {
		return got, nil
	}
	now := d.cfg.Now().UTC()
	if b.Approval == nil {
		b.Approval = &broadcast.Approval{}
	}
	b.Status, b.Approval.Decision, b.Approval.By, b.Approval.At, b.Approval.Comment = st, dec, req.By, &now, req.Comment
	return b, nil
}

// requestApproval tells the configured approvers that b waits for them: a
// broadcast of kind approval_request, to them, through the pipeline like
// any other (urgent, so that it does not queue behind announcements). It
// never needs approval itself. A failure is logged: b waits all the same,
// and the console lists it.
func (d *Dispatcher) requestApproval(ctx context.Context, b *broadcast.Broadcast) {
	if len(d.cfg.Approval.Notify) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), approvalRequestTimeout)
	defer cancel()
	log := d.log.With(zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID))
	req, err := d.approvalRequest(b)
	if err == nil {
		var activity []byte
		if activity, err = message.Build(req.Message); err == nil {
			err = d.record(ctx, req, activity)
		}
	}
	if err == nil {
		err = d.store.SetApprovalRequest(ctx, b.ID, req.ID)
	}
	if err != nil {
		log.Error("approvers not told of a broadcast waiting for them", zap.Error(err))
		return
	}
	b.Approval.RequestID = req.ID
	log.Info("approvers told", zap.String("request_id", req.ID), zap.Int("approvers", len(d.cfg.Approval.Notify)))
}

// approvalRequest is the broadcast that asks the approvers about b.
func (d *Dispatcher) approvalRequest(b *broadcast.Broadcast) (*broadcast.Broadcast, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new broadcast id: %w", err)
	}
	lines := []string{
		"**From:** " + quote(orDash(b.CreatedBy), 64),
		"**Audience:** " + b.Audience.SizeAtCreate(),
		"**Rule:** " + b.Approval.Rule,
	}
	if b.SendAt != nil {
		lines = append(lines, "**Sends at:** "+b.SendAt.UTC().Format("2006-01-02 15:04 MST")+" (once approved)")
	}
	lines = append(lines, "**Broadcast:** "+b.ID)
	t := &broadcast.Template{Title: "Approval needed: " + quote(Title(b.Message), 120), Summary: strings.Join(lines, "\n\n")}
	if base := d.cfg.Approval.ConsoleURL; base != "" {
		t.Buttons = []broadcast.Button{{Title: "Open in the console", URL: strings.TrimRight(base, "/") + "/broadcasts/" + url.PathEscape(b.ID)}}
	}
	msg := broadcast.Message{Template: t}
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("approval request card: %w", err)
	}
	return &broadcast.Broadcast{ID: id.String(), TenantID: b.TenantID, Message: msg,
		Audience: broadcast.Audience{UserIDs: append([]string(nil), d.cfg.Approval.Notify...)}, Priority: broadcast.PriorityUrgent,
		Status: broadcast.StatusExpanding, Kind: broadcast.KindApprovalRequest, PreviewOf: b.ID,
		CreatedBy: b.CreatedBy, CreatedAt: d.cfg.Now().UTC().Truncate(time.Millisecond)}, nil
}

// Title is what an approver is shown as a message's title: a template's
// title, else the first line of its text, else "(an Adaptive Card)".
func Title(m broadcast.Message) string {
	switch {
	case m.Template != nil:
		return m.Template.Title
	case strings.TrimSpace(m.Text) != "":
		line, _, _ := strings.Cut(strings.TrimSpace(m.Text), "\n")
		return line
	}
	return "(an Adaptive Card)"
}

// quote makes an author's text safe to show inside the request's card:
// one line of at most max characters, its placeholders and markdown
// links inert (the request is not personalised, and links are the
// console's only).
func quote(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := strings.NewReplacer("{{", "{ {", "}}", "} }", "[", "(", "]", ")", "<", "‹", ">", "›")
	s = r.Replace(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
