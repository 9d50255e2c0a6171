package bot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Bounds of what an engagement activity may carry.
const (
	maxActivityID   = 256 // bytes of an activity id (lastReadMessageId, replyToId)
	maxReactionType = 64  // bytes of a reaction type
	replyTimeout    = 3 * time.Second
)

// engagement records a read receipt, a reaction or a reply.
func (h *Handler) engagement(ctx context.Context, a *activity, log *zap.Logger) answer {
	tenant, user, ok, ans := h.who(a, log)
	if !ok {
		return ans
	}
	switch a.Type {
	case typeEvent:
		return h.receipt(ctx, a, tenant, user, log)
	case typeMessageReaction:
		return h.reaction(ctx, a, tenant, user, log)
	default:
		return h.reply(ctx, a, tenant, user, log)
	}
}

func (h *Handler) receipt(ctx context.Context, a *activity, tenant, user string, log *zap.Logger) answer {
	var v struct {
		LastRead string `json:"lastReadMessageId"`
	}
	_ = json.Unmarshal(a.Value, &v)
	last := strings.TrimSpace(v.LastRead)
	if last == "" || len(last) > maxActivityID {
		log.Info("read receipt without a usable value.lastReadMessageId rejected")
		return rejected()
	}
	metrics.Engagement(metrics.EngageReceipt, 1)
	n, err := h.engage.Receipt(ctx, tenant, user, last, h.cfg.Now())
	if err != nil {
		log.Error("read receipt not recorded", zap.Error(err))
		return failed()
	}
	metrics.Engagement(metrics.EngageRead, n)
	log.Debug("read receipt recorded", zap.String("last_read", last), zap.Int("newly_read", n))
	return answer{outcome: metrics.BotEngaged, status: http.StatusOK}
}

func (h *Handler) reaction(ctx context.Context, a *activity, tenant, user string, log *zap.Logger) answer {
	if a.ReplyToID == "" || len(a.ReplyToID) > maxActivityID {
		log.Debug("reaction without a usable replyToId ignored")
		return ignored()
	}
	id, err := h.engage.BroadcastOf(ctx, tenant, user, a.ReplyToID)
	if err != nil {
		log.Error("reaction not recorded", zap.Error(err))
		return failed()
	}
	if id == "" {
		log.Debug("reaction to a message that is no broadcast's ignored", zap.String("reply_to_id", a.ReplyToID))
		return ignored()
	}
	log = log.With(zap.String("broadcast_id", id))
	changed := 0
	for _, r := range []struct {
		added bool
		list  []reaction
		kind  string
	}{{true, a.ReactionsAdded, metrics.EngageReactionAdded}, {false, a.ReactionsRemoved, metrics.EngageReactionRemoved}} {
		n, err := h.engage.React(ctx, id, user, r.added, reactionTypes(r.list))
		switch {
		case errors.Is(err, engage.ErrNotRecipient):
			log.Info("reaction of a user the broadcast did not reach ignored")
			return ignored()
		case err != nil:
			log.Error("reaction not recorded", zap.Error(err))
			return failed()
		}
		metrics.Engagement(r.kind, n)
		changed += n
	}
	if changed == 0 {
		return answer{outcome: metrics.BotDuplicate, status: http.StatusOK}
	}
	return answer{outcome: metrics.BotEngaged, status: http.StatusOK}
}

// reactionTypes returns the usable types of rs, each once.
func reactionTypes(rs []reaction) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		t := strings.TrimSpace(r.Type)
		if t == "" || len(t) > maxReactionType || !utf8.ValidString(t) || strings.ContainsAny(t, "\x00") {
			continue
		}
		out = append(out, t)
	}
	return out
}

// reply keeps a user's message as a reply to the broadcast that reached
// them last, and sends the auto-reply once per message.
func (h *Handler) reply(ctx context.Context, a *activity, tenant, user string, log *zap.Logger) answer {
	id, err := h.engage.Latest(ctx, tenant, user)
	if err != nil {
		log.Error("reply not recorded", zap.Error(err))
		return failed()
	}
	if id == "" {
		log.Debug("message of a user no broadcast reached ignored")
		return ignored()
	}
	log = log.With(zap.String("broadcast_id", id))
	if len(a.ID) > maxActivityID {
		log.Info("message with an activity id too long rejected")
		return rejected()
	}
	kept, err := h.engage.Reply(ctx, id, user, a.ID, a.Text, h.cfg.Now())
	switch {
	case errors.Is(err, engage.ErrNotRecipient):
		log.Info("reply of a user the broadcast did not reach ignored")
		return ignored()
	case err != nil:
		log.Error("reply not recorded", zap.Error(err))
		return failed()
	case !kept:
		return answer{outcome: metrics.BotDuplicate, status: http.StatusOK}
	}
	metrics.Engagement(metrics.EngageReply, 1)
	log.Info("reply kept", zap.Int("chars", utf8.RuneCountInString(a.Text)))
	h.autoReply(ctx, a, log)
	return answer{outcome: metrics.BotEngaged, status: http.StatusOK}
}

// autoReply sends Config.AutoReply to the conversation; a failure is
// logged, not answered: the reply is kept, and Teams would post it again.
func (h *Handler) autoReply(ctx context.Context, a *activity, log *zap.Logger) {
	if h.cfg.AutoReply == "" || h.cfg.Replier == nil || a.Conversation.ID == "" || len(a.Conversation.ID) > maxConversation {
		return
	}
	act, err := teams.Activity(h.cfg.AutoReply, nil, false)
	if err != nil {
		log.Error("auto-reply not built", zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replyTimeout)
	defer cancel()
	if _, err := h.cfg.Replier.Send(ctx, a.Conversation.ID, act); err != nil {
		log.Warn("auto-reply not sent", zap.Error(err))
	}
}
