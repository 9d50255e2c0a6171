package bot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/metrics"
)

// Invoke response types (Universal Actions): the user's card is replaced
// by a card, or a message is shown, or an error.
const (
	InvokeCard    = "application/vnd.microsoft.card.adaptive"
	InvokeMessage = "application/vnd.microsoft.activity.message"
	InvokeError   = "application/vnd.microsoft.error"
)

// InvokeResponse is the body of the answer to an adaptiveCard/action
// invoke. Teams shows anything else (a bare 200 among them) as an error
// on the button.
type InvokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// InvokeFailure is the value of an InvokeError response.
type InvokeFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Texts the user sees.
const (
	textRecorded    = "Thank you: your response was recorded."
	textNotTracked  = "Thank you. This message is not one this app tracks, so nothing was recorded."
	textAcknowledge = "✅ Acknowledged. Thank you."
)

// Bounds of an action.
const (
	maxVerb       = 128     // bytes of an Action.Execute verb
	maxActionData = 4 << 10 // bytes of its data, as JSON
)

func invokeAnswer(outcome string, r InvokeResponse) answer {
	return answer{outcome: outcome, status: http.StatusOK, body: r}
}

func invokeMessage(outcome, text string) answer {
	return invokeAnswer(outcome, InvokeResponse{StatusCode: http.StatusOK, Type: InvokeMessage, Value: text})
}

func invokeError(outcome string, status int, code, msg string) answer {
	return invokeAnswer(outcome, InvokeResponse{StatusCode: status, Type: InvokeError, Value: InvokeFailure{Code: code, Message: msg}})
}

// cardAction records an Action.Execute (its verb and data, per recipient)
// and answers it within Config.InvokeTimeout: the acknowledge button with
// the card as sent, acknowledged; any other with a message.
func (h *Handler) cardAction(ctx context.Context, a *activity, log *zap.Logger) answer {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.InvokeTimeout)
	defer cancel()
	var v struct {
		Action struct {
			Type string          `json:"type"`
			Verb string          `json:"verb"`
			Data json.RawMessage `json:"data"`
		} `json:"action"`
	}
	if err := json.Unmarshal(a.Value, &v); err != nil {
		return invokeError(metrics.BotRejected, http.StatusBadRequest, "BadRequest", "value.action: not an Action.Execute")
	}
	act := v.Action
	switch {
	case act.Verb == "" || len(act.Verb) > maxVerb:
		return invokeError(metrics.BotRejected, http.StatusBadRequest, "BadRequest", "value.action.verb: required, at most 128 bytes")
	case len(act.Data) > maxActionData:
		return invokeError(metrics.BotRejected, http.StatusBadRequest, "BadRequest", "value.action.data: more than 4 KiB")
	}
	tenant, user, ok, ans := h.who(a, log)
	if !ok {
		if ans.status == http.StatusBadRequest {
			return invokeError(ans.outcome, http.StatusBadRequest, "BadRequest", "from.aadObjectId and conversation.tenantId: required GUIDs")
		}
		return invokeMessage(ans.outcome, textNotTracked)
	}
	id, err := h.actionBroadcast(ctx, a, tenant, user, act.Data)
	if err != nil {
		log.Error("action not recorded", zap.Error(err))
		return invokeError(metrics.BotRejected, http.StatusInternalServerError, "InternalError", "the response could not be recorded; try again")
	}
	if id == "" {
		log.Info("action on a message that is no broadcast's", zap.String("verb", act.Verb))
		return invokeMessage(metrics.BotIgnored, textNotTracked)
	}
	log = log.With(zap.String("broadcast_id", id), zap.String("verb", act.Verb))
	ack := act.Verb == message.AckVerb
	res, err := h.engage.Act(ctx, id, tenant, user, engage.Action{ActivityID: a.ID, Verb: act.Verb, Data: act.Data, At: h.cfg.Now()}, ack)
	switch {
	case errors.Is(err, engage.ErrNotRecipient):
		log.Info("action of a user the broadcast did not reach: not recorded")
		return invokeMessage(metrics.BotIgnored, textNotTracked)
	case err != nil:
		log.Error("action not recorded", zap.Error(err))
		return invokeError(metrics.BotRejected, http.StatusInternalServerError, "InternalError", "the response could not be recorded; try again")
	}
	outcome := metrics.BotEngaged
	if res.Duplicate {
		outcome = metrics.BotDuplicate
	} else {
		metrics.Engagement(metrics.EngageAction, 1)
	}
	if res.NewAck {
		metrics.Engagement(metrics.EngageAcknowledged, 1)
		log.Info("broadcast acknowledged")
	}
	if !ack {
		return invokeMessage(outcome, textRecorded)
	}
	h.ackOriginal(ctx, id, tenant, user, act.Verb, act.Data, a.ID, log)
	card, err := h.acknowledgedCard(ctx, id, tenant, user, res.AcknowledgedAt)
	if err != nil {
		// Recorded: the user is told so, in a message instead of the card.
		log.Warn("acknowledged card not built: answered with a message", zap.Error(err))
		return invokeMessage(outcome, textAcknowledge)
	}
	return invokeAnswer(outcome, InvokeResponse{StatusCode: http.StatusOK, Type: InvokeCard, Value: card})
}

// ackOriginal records an acknowledgement of a reminder as one of the
// broadcast it reminds of too: that is what the reminder asked for, and a
// later reminder of the unacknowledged must leave the user out. It runs
// on every acknowledgement, a repeated one too (recorded once, by the
// invoke's id), so that Teams' retry mends a failed record.
func (h *Handler) ackOriginal(ctx context.Context, id, tenant, user, verb string, data json.RawMessage, activityID string, log *zap.Logger) {
	of, err := h.store.ReminderOf(ctx, id)
	if err != nil || of == "" {
		if err != nil {
			log.Warn("acknowledgement of a reminder not recorded for its original", zap.Error(err))
		}
		return
	}
	res, err := h.engage.Act(ctx, of, tenant, user, engage.Action{ActivityID: activityID, Verb: verb, Data: data, At: h.cfg.Now()}, true)
	switch {
	case errors.Is(err, engage.ErrNotRecipient):
		log.Info("acknowledged a reminder of a broadcast that did not reach the user", zap.String("reminder_of", of))
	case err != nil:
		log.Warn("acknowledgement of a reminder not recorded for its original", zap.String("reminder_of", of), zap.Error(err))
	case res.NewAck:
		metrics.Engagement(metrics.EngageAcknowledged, 1)
		log.Info("original acknowledged through its reminder", zap.String("reminder_of", of))
	}
}

// actionBroadcast finds the broadcast an invoke is about: the message it
// came from (replyToId), else the broadcast its data names (the
// acknowledge button's broadcastId).
func (h *Handler) actionBroadcast(ctx context.Context, a *activity, tenant, user string, data json.RawMessage) (string, error) {
	if a.ReplyToID != "" && len(a.ReplyToID) <= maxActivityID {
		id, err := h.engage.BroadcastOf(ctx, tenant, user, a.ReplyToID)
		if err != nil || id != "" {
			return id, err
		}
	}
	var d struct {
		BroadcastID string `json:"broadcastId"`
	}
	if json.Unmarshal(data, &d) == nil && broadcast.IsGUID(strings.ToLower(d.BroadcastID)) {
		return strings.ToLower(d.BroadcastID), nil
	}
	return "", nil
}

// acknowledgedCard is the card the user got, personalised as it was sent,
// without its acknowledge button and saying when they acknowledged.
func (h *Handler) acknowledgedCard(ctx context.Context, id, tenant, user string, at time.Time) (json.RawMessage, error) {
	raw, _, err := h.store.ActivityVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	raw = message.ForBroadcast(raw, id)
	if message.Personal(raw) {
		profiles, err := h.store.Profiles(ctx, tenant, []string{user})
		if err != nil {
			return nil, err
		}
		p, ok := profiles[user]
		if !ok {
			p = broadcast.Profile{ID: user}
		}
		raw = message.Personalize(raw, p)
	}
	card, err := message.Card(raw)
	if err != nil {
		return nil, err
	}
	if card == nil {
		return nil, errors.New("the broadcast's message has no card")
	}
	if at.IsZero() {
		at = h.cfg.Now()
	}
	return message.Acknowledged(card, at)
}
