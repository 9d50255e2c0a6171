package teamsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// The activities of engagement, as Teams posts them
// (shared/TEAMS_PROTOCOL.md), and the check of an invoke's answer.

type reactionJSON struct {
	Type string `json:"type"`
}

type readReceiptValue struct {
	LastReadMessageID string `json:"lastReadMessageId"`
}

type invokeValue struct {
	Action  invokeAction `json:"action"`
	Trigger string       `json:"trigger"`
}

type invokeAction struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Verb string          `json:"verb"`
	Data json.RawMessage `json:"data,omitempty"`
}

// engagementActivity is the activity g posts.
func (s *Sim) engagementActivity(g engagement) botActivity {
	u := g.u
	typ := map[string]string{EngageRead: "event", EngageReaction: "messageReaction", EngageAcknowledge: "invoke", EngageReply: "message"}[g.kind]
	a := s.userActivity(typ, g.base, u.tenant.id, u.u.ID, g.conv)
	if g.activityID != "" {
		a.ID = g.activityID
	}
	a.From.Name = u.u.DisplayName
	a.Locale = "en-US"
	switch g.kind {
	case EngageRead:
		a.Name = "application/vnd.microsoft.readReceipt"
		a.Value = readReceiptValue{LastReadMessageID: g.id}
	case EngageReaction:
		a.ReplyToID = g.id
		if g.removed {
			a.ReactionsRemoved = []reactionJSON{{Type: g.reaction}}
		} else {
			a.ReactionsAdded = []reactionJSON{{Type: g.reaction}}
		}
	case EngageAcknowledge:
		a.Name = "adaptiveCard/action"
		a.ReplyToID = g.id
		a.Value = invokeValue{Trigger: "manual",
			Action: invokeAction{Type: "Action.Execute", ID: g.action.ID, Verb: g.action.Verb, Data: g.action.Data}}
	case EngageReply:
		a.Text, a.TextFormat = g.text, "plain"
	}
	return a
}

// postEngagement posts g (tries as the install activities when g.retry)
// and counts it in taken when the bot took it.
func (s *Sim) postEngagement(ctx context.Context, g engagement, taken *atomic.Int64) (posted bool, status int) {
	a := s.engagementActivity(g)
	led := &s.led.engage
	tries := 1
	if g.retry {
		tries = botPostAttempts
	}
	status, ok := s.deliverActivity(ctx, s.poster, a, tries, &led.answers)
	if ok {
		taken.Add(1)
	} else {
		led.failed.Add(1)
	}
	return true, status
}

// invokeWait bounds the wait for an invoke's answer: well past the
// deadline, so that a late answer is told from none.
func invokeWait(deadline time.Duration) time.Duration { return 3 * deadline }

// invoke posts an acknowledge and judges the answer: valid, invalid or
// late (after the deadline, on the simulator's clock). Invokes are not
// retried: Teams shows the user an error instead.
func (s *Sim) invoke(ctx context.Context, g engagement, out *Engaged) {
	led := &s.led.engage
	led.invokes.Add(1)
	a := s.engagementActivity(g)
	body, err := json.Marshal(a)
	if err != nil {
		out.Invoke, out.Reason = InvokeInvalid, err.Error()
		led.invokesInvalid.Add(1)
		return
	}
	deadline := s.cfg.Engagement.InvokeDeadline
	start := s.now()
	status, answer, err := s.exchange(ctx, s.poster, a.ServiceURL, body, invokeWait(deadline), true)
	out.Latency = s.now().Sub(start)
	out.Posted, out.Status = true, status
	led.answer(status)
	switch {
	case err != nil && ctx.Err() != nil:
		out.Invoke, out.Reason = InvokeLate, "cancelled before an answer"
	case err != nil:
		out.Invoke, out.Reason = InvokeLate, "no answer: "+err.Error()
	case out.Latency > deadline:
		out.Invoke, out.Reason = InvokeLate, fmt.Sprintf("answered after %s (deadline %s)", out.Latency.Round(time.Millisecond), deadline)
	default:
		card, reason := checkInvokeResponse(status, answer)
		if reason != "" {
			out.Invoke, out.Reason = InvokeInvalid, reason
		} else {
			out.Invoke = InvokeValid
			if card != nil {
				s.replaceCard(g.u, g.id, card)
			}
		}
	}
	switch out.Invoke {
	case InvokeValid:
		led.invokesValid.Add(1)
	case InvokeInvalid:
		led.invokesInvalid.Add(1)
	default:
		led.invokesLate.Add(1)
	}
	if out.Invoke != InvokeValid {
		s.log.Info("the bot's invoke response would show the user an error", zap.String("tenant_id", g.u.tenant.id),
			zap.String("user_id", g.u.u.ID), zap.String("activity_id", g.id), zap.String("invoke", out.Invoke), zap.String("reason", out.Reason))
	}
}

// checkInvokeResponse checks an adaptiveCard/action answer: HTTP 200 and
// {"statusCode":200,"type":...,"value":...} with an Adaptive Card (type
// application/vnd.microsoft.card.adaptive, returned as card) or a text
// (application/vnd.microsoft.activity.message). reason says what is wrong.
func checkInvokeResponse(status int, body []byte) (card json.RawMessage, reason string) {
	if status != http.StatusOK {
		return nil, fmt.Sprintf("HTTP status %d, not 200", status)
	}
	if len(body) == 0 {
		return nil, "empty body: Teams needs an invoke response"
	}
	var r struct {
		StatusCode *int            `json:"statusCode"`
		Type       string          `json:"type"`
		Value      json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, "body is not a JSON object: " + err.Error()
	}
	switch {
	case r.StatusCode == nil:
		return nil, "statusCode is missing"
	case *r.StatusCode != http.StatusOK:
		return nil, fmt.Sprintf("statusCode %d, not 200", *r.StatusCode)
	}
	switch r.Type {
	case contentTypeAdaptiveCard:
		var c struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(r.Value, &c) != nil || c.Type != "AdaptiveCard" {
			return nil, `value is not an Adaptive Card (an object with "type":"AdaptiveCard")`
		}
		return r.Value, ""
	case "application/vnd.microsoft.activity.message":
		var text string
		if json.Unmarshal(r.Value, &text) != nil {
			return nil, "value is not a string"
		}
		return nil, ""
	case "":
		return nil, "type is missing"
	}
	return nil, fmt.Sprintf("type %q is neither %s nor application/vnd.microsoft.activity.message", r.Type, contentTypeAdaptiveCard)
}

// replaceCard puts the card of a valid invoke response in place of the
// message's, as Teams does with the user's copy.
func (s *Sim) replaceCard(u *userState, id string, card json.RawMessage) {
	h := contentHash("", []attachmentIn{{ContentType: contentTypeAdaptiveCard, Content: card}})
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.sent) - 1; i >= 0; i-- {
		if a := &u.sent[i]; a.id == id && !a.deleted {
			a.history = append(a.history, h)
			if len(a.history) > maxHistory {
				a.history = a.history[len(a.history)-maxHistory:]
			}
			return
		}
	}
}
