package send

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/retry"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// ChangeConnector is the part of the Bot Connector the edit and the recall use.
type ChangeConnector interface {
	Update(ctx context.Context, conversationID, activityID string, activity []byte) error
	Delete(ctx context.Context, conversationID, activityID string) error
}

var _ ChangeConnector = (*teams.Client)(nil)

// Changer handles the jobs of the edit and recall stages: one recipient
// who got the message each, whose message it updates (PUT, the edit
// round's activity personalised for the recipient) or deletes. It runs in
// the sender processes, through the same per-tenant gates as the sends
// (give it the Sender's ratelimit.Tenants): the same shared budget, the
// same pause on a 429's Retry-After, the same bounded retries with jitter.
//
// Each call is claimed in the store first (the recipient's op record, with
// an owner and a lease) and its outcome recorded with the round's
// counters, so a redelivered job never counts twice, and a job of an
// edit round that a newer one superseded is acked without a call. A newer
// round's call waits for an older one still in flight, so a recipient is
// never updated with an older edit after a newer one.
type Changer struct {
	cfg   Config
	store *store.Store
	teams ChangeConnector
	gates *ratelimit.Tenants
	log   *zap.Logger
	acts  *activities
	retry retry.Policy
}

// NewChanger returns a Changer; cfg is the Sender's.
func NewChanger(cfg Config, st *store.Store, c ChangeConnector, gates *ratelimit.Tenants, log *zap.Logger) *Changer {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 15 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.MaxThrottles <= 0 {
		cfg.MaxThrottles = 20
	}
	return &Changer{cfg: cfg, store: st, teams: c, gates: gates, log: log.Named("change"), acts: newActivities(st), retry: retryPolicy(cfg)}
}

// busyWait is how long a job waits for another call of its recipient in
// flight (an older edit round's, or its own first delivery's): about one
// call.
const busyWait = 2 * time.Second

// Handle processes one edit or recall job; it is a queue.Handler.
func (c *Changer) Handle(ctx context.Context, msg jetstream.Msg) error {
	op := stageOf(msg.Subject())
	if !store.IsChangeStage(op) {
		return queue.Terminate(fmt.Errorf("subject %q is not of the edit or recall stage", msg.Subject()))
	}
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return queue.Terminate(err)
	}
	if job.Round < 1 {
		return queue.Terminate(fmt.Errorf("%w: %s job without a round", broadcast.ErrBadJob, op))
	}
	log := c.log.With(zap.String("op", string(op)), zap.Int("round", job.Round), zap.String("broadcast_id", job.BroadcastID),
		zap.String("tenant_id", job.TenantID), zap.String("user_id", job.UserID))
	owner := owner(c.cfg.ProcessID, msg)
	claim, err := c.store.ClaimChange(ctx, job.BroadcastID, op, job.UserID, job.Round, owner, queue.AckWait)
	if err != nil {
		return err
	}
	switch claim.Verdict {
	case "ok":
		queue.OnHeartbeat(ctx, func(ctx context.Context) error {
			return renewed(c.store.RenewChangeClaim(ctx, job.BroadcastID, op, job.UserID, owner, queue.AckWait))
		})
	case "busy":
		return queue.Retry(busyWait, errors.New("another call of the recipient is in flight"))
	case "missing":
		return queue.Terminate(fmt.Errorf("the %s round %d of broadcast %s has no record", op, job.Round, job.BroadcastID))
	default: // superseded, settled, recalled, gone: nothing to call
		log.Debug("nothing to do", zap.String("verdict", claim.Verdict))
		return nil
	}
	if claim.ConversationID == "" {
		// Sent before senders recorded the conversation with the
		// activity id: the cached one is the chat's, unless it was
		// reinstalled since (then Teams answers 404: skipped).
		convs, err := c.store.Conversations(ctx, job.TenantID, []string{job.UserID})
		if err != nil {
			return c.release(ctx, op, job, owner, store.ChangeOutcome{}, err)
		}
		claim.ConversationID = convs[job.UserID]
	}

	var activity []byte
	if op == broadcast.StageEdit {
		act, err := c.acts.get(ctx, job.BroadcastID, job.Round)
		if err != nil {
			return c.release(ctx, op, job, owner, store.ChangeOutcome{}, err)
		}
		activity, err = c.personalize(ctx, job, act)
		if err != nil {
			return c.release(ctx, op, job, owner, store.ChangeOutcome{}, err)
		}
	}

	gate := c.gates.For(job.TenantID)
	var callErr error
	for try := 0; try < 2; try++ { // a 401 refreshes the token and tries once more
		ticket, err := gate.TakeWithin(ctx, maxHold)
		if err != nil {
			var backlog *ratelimit.BacklogError
			if errors.As(err, &backlog) {
				return c.release(ctx, op, job, owner, store.ChangeOutcome{}, queue.Retry(backlog.Wait, err))
			}
			return c.release(ctx, op, job, owner, store.ChangeOutcome{}, err)
		}
		callCtx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		// As a send's: the pause is checked again right before the write.
		callCtx = teams.WithGuard(callCtx, ticket)
		start := time.Now()
		if op == broadcast.StageEdit {
			callErr = c.teams.Update(callCtx, claim.ConversationID, claim.ActivityID, activity)
			metrics.ConnectorCall(metrics.OpUpdate, time.Since(start))
		} else {
			callErr = c.teams.Delete(callCtx, claim.ConversationID, claim.ActivityID)
			metrics.ConnectorCall(metrics.OpDelete, time.Since(start))
		}
		cancel()
		if teams.ClassifyChange(callErr) != teams.Unauthorized {
			break
		}
	}
	return c.settle(ctx, gate, op, job, owner, claim, callErr, log)
}

// personalize fills the activity's placeholders from the recipient's
// cached profile (an uncached user's are left empty, as for a send).
func (c *Changer) personalize(ctx context.Context, job broadcast.Job, act versioned) ([]byte, error) {
	if !act.personal {
		return act.json, nil
	}
	ps, err := c.store.Profiles(ctx, job.TenantID, []string{job.UserID})
	if err != nil {
		return nil, err
	}
	p, ok := ps[job.UserID]
	if !ok {
		p = broadcast.Profile{ID: job.UserID}
	}
	return message.Personalize(act.json, p), nil
}

// settle records the outcome of an update or delete and decides the job's fate.
func (c *Changer) settle(ctx context.Context, gate *ratelimit.Gate, op broadcast.Stage, job broadcast.Job, owner string, claim store.ChangeClaim, callErr error, log *zap.Logger) error {
	outcome := teams.ClassifyChange(callErr)
	var terr *teams.Error
	errors.As(callErr, &terr)
	// Counted once, here: the Connector's answer is the outcome.
	counted := metrics.OutcomeFailed
	defer func() { metrics.Change(job.TenantID, string(op), counted, statusOf(terr)) }()
	final := func(to string, reason broadcast.Reason) error {
		switch to {
		case store.ChangeDone:
			counted = metrics.OutcomeDone
		case store.ChangeSkipped:
			counted = metrics.OutcomeSkipped
		}
		if to == store.ChangeFailed {
			log.Warn(string(op)+" failed for good", zap.String("reason", string(reason)), zap.Error(callErr))
		}
		_, err := c.store.SettleChange(context.WithoutCancel(ctx), job.BroadcastID, op, job.UserID, job.Round, owner,
			store.ChangeOutcome{To: to, Reason: string(reason), LastError: errString(callErr)})
		return err
	}
	switch outcome {
	case teams.OK:
		return final(store.ChangeDone, "")
	case teams.Throttled:
		wait := pauseTenant(ctx, gate, terr, claim.Attempts, log)
		if claim.Throttles+1 >= c.cfg.MaxThrottles {
			return final(store.ChangeFailed, broadcast.ReasonThrottled)
		}
		counted = metrics.OutcomeThrottled
		log.Info("throttled: tenant paused", zap.Duration("retry_after", wait))
		return c.release(ctx, op, job, owner, store.ChangeOutcome{CountThrottle: true}, queue.Retry(wait, callErr))
	case teams.Retry, teams.Unauthorized:
		maybe := teams.MaybeDelivered(callErr)
		if ctx.Err() != nil { // shutting down: the call was cut, not refused
			counted = metrics.OutcomeInterrupted
			return c.release(ctx, op, job, owner, store.ChangeOutcome{MaybeDelivered: maybe}, ctx.Err())
		}
		if claim.Retries >= c.cfg.MaxRetries {
			return final(store.ChangeFailed, broadcast.ReasonRetriesExhausted)
		}
		counted = metrics.OutcomeRetried
		delay := c.retry.Delay(claim.Retries + 1)
		log.Info(string(op)+" failed, will retry", zap.Int("retries", claim.Retries+1), zap.Duration("delay", delay), zap.Error(callErr))
		return c.release(ctx, op, job, owner, store.ChangeOutcome{CountRetry: true, MaybeDelivered: maybe}, queue.Retry(delay, callErr))
	case teams.ConversationGone, teams.NotInstalled:
		if op == broadcast.StageRecall && claim.MaybeDone && terr != nil && terr.Status == http.StatusNotFound {
			// An earlier delete got no answer: it did delete the message.
			return final(store.ChangeDone, "")
		}
		log.Info("message or conversation gone: skipped", zap.Error(callErr))
		return final(store.ChangeSkipped, "gone")
	case teams.Blocked:
		return final(store.ChangeFailed, broadcast.ReasonBlockedByUser)
	case teams.Disabled:
		return final(store.ChangeFailed, broadcast.ReasonBotDisabled)
	case teams.BadMessage:
		reason := broadcast.ReasonBadMessage
		if terr != nil && terr.Status == 413 {
			reason = broadcast.ReasonMessageTooBig
		}
		return final(store.ChangeFailed, reason)
	default:
		if ctx.Err() != nil {
			counted = metrics.OutcomeInterrupted
			return c.release(ctx, op, job, owner, store.ChangeOutcome{}, ctx.Err())
		}
		return final(store.ChangeFailed, broadcast.ReasonServiceError)
	}
}

// DeadLetter ends the recipient's call of an edit or recall job that will
// not be delivered again (it panicked, or failed queue.DefaultMaxFailures
// times): failed, internal_error, so that the round completes. It claims
// the call first if the job had not. It is the edit and recall stages'
// queue.DeadLetter.
func (c *Changer) DeadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	op := stageOf(msg.Subject())
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil || !store.IsChangeStage(op) {
		return nil // nothing to record: terminated
	}
	owner := owner(c.cfg.ProcessID, msg)
	claim, err := c.store.ClaimChange(ctx, job.BroadcastID, op, job.UserID, job.Round, owner, queue.AckWait)
	switch {
	case err != nil:
		return err
	case claim.Verdict == "busy":
		return errors.New("another call of the recipient is in flight")
	case claim.Verdict != "ok":
		return nil // nothing left to do for it
	}
	v, err := c.store.SettleChange(ctx, job.BroadcastID, op, job.UserID, job.Round, owner,
		store.ChangeOutcome{To: store.ChangeFailed, Reason: string(broadcast.ReasonInternalError), LastError: errString(cause)})
	if err == nil && v == "lost" {
		return errors.New("the call was taken over")
	}
	return err
}

// release gives the claim back (pending again) with the counts o asks
// for, and returns cause as the job's result.
func (c *Changer) release(ctx context.Context, op broadcast.Stage, job broadcast.Job, owner string, o store.ChangeOutcome, cause error) error {
	o.To, o.LastError = store.ChangePending, errString(cause)
	if _, err := c.store.SettleChange(context.WithoutCancel(ctx), job.BroadcastID, op, job.UserID, job.Round, owner, o); err != nil {
		// The claim's lease runs out by itself; the redelivery waits for it.
		c.log.Warn("release the claim", zap.String("op", string(op)), zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID), zap.Error(err))
	}
	return cause
}

// followPolicy retries following a send: 1 to 1.5 s in all.
var followPolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 5}

// follow queues the edit or the recall for a recipient just recorded
// sent, when one started while the send was on its way (or the activity
// posted was older than the edit): the edit's or recall's own queueing may
// have passed the recipient before it was sent. It is retried for a while
// and then logged: the send's job is done either way.
func (s *Sender) follow(ctx context.Context, job broadcast.Job, version int, log *zap.Logger) {
	err := followPolicy.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return s.followOnce(ctx, job, version, log)
	})
	if err != nil {
		log.Error("sent while an edit or a recall started, and could not queue it for the recipient", zap.Error(err))
	}
}

func (s *Sender) followOnce(ctx context.Context, job broadcast.Job, version int, log *zap.Logger) error {
	op, round, err := s.store.FollowSent(ctx, job.BroadcastID, job.UserID, version)
	if err != nil {
		return err
	}
	s.acts.saw(job.BroadcastID, round)
	if op == "" {
		return nil
	}
	if op == broadcast.StageRecall {
		round = 1
	}
	log.Info("sent while the message was being changed: queued for the "+string(op), zap.Int("round", round), zap.Int("version", version))
	if _, err := s.pub.Consumer(ctx, queue.ConsumerName(op, job.BroadcastID)); err != nil {
		b, err := s.store.Broadcast(ctx, job.BroadcastID)
		if err != nil {
			return err
		}
		if err := s.pub.EnsureConsumers(ctx, job.TenantID, job.BroadcastID, b.Priority, op); err != nil {
			return err
		}
	}
	next := broadcast.Job{BroadcastID: job.BroadcastID, TenantID: job.TenantID, UserID: job.UserID, Round: round}
	if err := s.pub.Publish(ctx, op, next); err != nil {
		return err
	}
	_, err = s.store.AddChangeTargets(ctx, job.BroadcastID, op, round, []string{job.UserID}, "-")
	return err
}

// stageOf returns the stage of a job's subject, <prefix>.<stage>.<tenant>.<broadcast>.
func stageOf(subject string) broadcast.Stage {
	parts := strings.Split(subject, ".")
	if len(parts) < 4 {
		return ""
	}
	return broadcast.Stage(parts[len(parts)-3])
}

// owner names a delivery of a message: a redelivery, here or elsewhere,
// is another owner and cannot take over a live claim.
func owner(processID string, msg jetstream.Msg) string {
	md, err := msg.Metadata()
	if err != nil {
		return processID
	}
	return processID + ":" + strconv.FormatUint(md.Sequence.Stream, 10) + ":" + strconv.FormatUint(md.NumDelivered, 10)
}
