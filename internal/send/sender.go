// Package send runs the sender workers: each send job claims its recipient
// in the store, waits for the tenant's gate, posts the broadcast's activity
// through the Bot Framework Connector, and records the outcome. One switch
// (Sender.settle) turns every documented Connector answer into a recorded
// state and the job's fate.
package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/retry"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Connector is the part of the Bot Connector the sender uses.
type Connector interface {
	Send(ctx context.Context, conversationID string, activity []byte) (string, error)
}

var _ Connector = (*teams.Client)(nil)

// Config tunes a Sender.
type Config struct {
	// ProcessID tells this process's claims from others'.
	ProcessID string
	// MaxRetries bounds redeliveries for answers that may pass (412, 502,
	// 503, 504, timeouts, a second 401).
	MaxRetries int
	// CallTimeout bounds one Connector call.
	CallTimeout time.Duration
	// RetryBase is the first retry delay; it doubles per retry, with jitter.
	RetryBase time.Duration
	// MaxThrottles bounds the 429s of one recipient in one round: beyond
	// it the recipient is failed (throttled), kept for a replay. Default 20.
	MaxThrottles int
	// Concurrency is the most jobs of one tenant Limit allows in hand
	// (SEND_CONCURRENCY). Default 512.
	Concurrency int
}

// Sender handles send jobs.
type Sender struct {
	cfg    Config
	store  *store.Store
	engage *engage.Store
	pub    *queue.Queue
	teams  Connector
	gates  *ratelimit.Tenants
	log    *zap.Logger
	acts   *activities
	busy   *queue.InFlight
	retry  retry.Policy // of answers that may pass
}

// New returns a Sender.
func New(cfg Config, st *store.Store, pub *queue.Queue, c Connector, gates *ratelimit.Tenants, log *zap.Logger) *Sender {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 15 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.MaxThrottles <= 0 {
		cfg.MaxThrottles = 20
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 512
	}
	rate := func(tenant string) float64 { return gates.For(tenant).Rate() }
	return &Sender{cfg: cfg, store: st, engage: engage.New(st.Client(), st.Keyspace), pub: pub, teams: c, gates: gates, log: log, acts: newActivities(st),
		busy: queue.NewInFlight(rate, cfg.Concurrency), retry: retryPolicy(cfg)}
}

// Limit is how many of the tenant's jobs this sender should have in hand:
// its rate times how long a job is busy (claim, call, record), with
// headroom (queue.InFlight); use it as the scheduler's Limit.
func (s *Sender) Limit(tenant string) int { return s.busy.Limit(tenant) }

// Handle processes one send job; it is a queue.Handler.
func (s *Sender) Handle(ctx context.Context, msg jetstream.Msg) error {
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return queue.Terminate(err)
	}
	var waited time.Duration // for the tenant's slot: not busy
	defer func(start time.Time) { s.busy.Observe(job.TenantID, time.Since(start)-waited) }(time.Now())
	log := s.log.WithLazy(zap.String("broadcast_id", job.BroadcastID), zap.String("tenant_id", job.TenantID), zap.String("user_id", job.UserID))
	if job.Round > 0 {
		// A replay's job reopens its recipient if the replay stopped
		// before it did (see store.Reopen); otherwise this does nothing.
		if _, err := s.store.Reopen(ctx, job.BroadcastID, job.UserID, job.Round, broadcast.StatePending, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}

	// The claim's lease is one AckWait, renewed by the job's heartbeat:
	// a redelivery finds it live while this worker lives, and run out
	// once it died (its job comes back one AckWait after its last beat).
	own := s.owner(msg)
	claim, err := s.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From:  []broadcast.State{broadcast.StatePending, broadcast.StateInstalling, broadcast.StateSending},
		To:    broadcast.StateSending,
		Owner: own, Lease: queue.AckWait, CountAttempt: true,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return queue.Terminate(fmt.Errorf("recipient %s of %s has no record: %w", job.UserID, job.BroadcastID, err))
	case err != nil:
		return err
	case claim.Busy:
		// Its sender is alive (or died less than a lease ago).
		return queue.Retry(queue.AckWait/2, errors.New("claimed by another sender"))
	case claim.Canceled:
		log.Debug("broadcast canceled: not sending")
		return nil
	case !claim.Applied:
		log.Debug("already settled, not sending again", zap.String("state", string(claim.Prev)))
		return nil
	}
	if claim.Prev == broadcast.StateSending {
		// The previous claim's lease ran out: its sender died or lost the
		// job, perhaps after Teams had accepted the message.
		log.Warn("reclaiming a recipient whose earlier send did not finish", zap.Int("attempts", claim.Recipient.Attempts))
	}
	queue.OnHeartbeat(ctx, func(ctx context.Context) error {
		return renewed(s.store.RenewClaim(ctx, job.BroadcastID, job.UserID, own, queue.AckWait))
	})
	ctx = context.WithValue(ctx, claimKey{}, own)

	conv := job.ConversationID
	if conv == "" {
		conv = claim.Recipient.ConversationID
	}
	if conv == "" {
		return s.reinstall(ctx, job, "", errors.New("no conversation known"), log)
	}
	act, err := s.acts.get(ctx, job.BroadcastID, 0)
	if errors.Is(err, store.ErrNotFound) {
		return queue.Terminate(err)
	}
	if err != nil {
		return s.release(ctx, job, err)
	}
	activity := act.json
	if act.personal {
		activity, err = s.personalize(ctx, job, activity, log)
		if err != nil {
			return s.release(ctx, job, err)
		}
	}

	gate := s.gates.For(job.TenantID)
	var sendErr error
	var activityID string
	for try := 0; try < 2; try++ { // a 401 refreshes the token and tries once more
		asked := time.Now()
		ticket, err := gate.TakeWithin(ctx, maxHold)
		waited += time.Since(asked)
		if err != nil {
			var backlog *ratelimit.BacklogError
			if errors.As(err, &backlog) {
				return s.release(ctx, job, queue.Retry(backlog.Wait, err))
			}
			return s.release(ctx, job, err)
		}
		callCtx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		// The ticket checks the tenant's pause again right before the
		// request is written, and learns how late it left.
		callCtx = teams.WithGuard(callCtx, ticket)
		start := time.Now()
		activityID, sendErr = s.teams.Send(callCtx, conv, activity)
		metrics.ConnectorCall(metrics.OpSend, time.Since(start))
		cancel()
		if teams.Classify(sendErr) != teams.Unauthorized {
			break
		}
	}
	err = s.settle(ctx, gate, job, conv, claim.Recipient, activityID, sendErr, log)
	if err == nil && sendErr == nil && activityID != "" {
		s.follow(ctx, job, act.version, log) // an edit or a recall that started while it was on its way
	}
	return err
}

// maxHold is how long a job in hand waits for its tenant (a pause, or a
// fully booked budget) before it is handed back. The scheduler fetches no
// more jobs of such a tenant, so only the few in hand wait, each holding
// nothing another tenant needs; handing them back would cost a release, a
// redelivery and a claim each.
const maxHold = 5 * time.Second

// settle records the outcome of a send and decides the job's fate.
func (s *Sender) settle(ctx context.Context, gate *ratelimit.Gate, job broadcast.Job, conv string, rec broadcast.Recipient, activityID string, sendErr error, log *zap.Logger) error {
	outcome := teams.Classify(sendErr)
	var terr *teams.Error
	errors.As(sendErr, &terr)
	// Counted once, here, whatever the store says next: the Connector's
	// answer is the outcome.
	counted := metrics.OutcomeFailed
	defer func() { metrics.Send(job.TenantID, counted, statusOf(terr)) }()
	switch outcome {
	case teams.OK:
		counted = metrics.OutcomeSent
		return s.recordSent(ctx, job, conv, activityID, log)
	case teams.Throttled:
		wait := pauseTenant(ctx, gate, terr, rec.Attempts, log)
		if rec.Throttles+1 >= s.cfg.MaxThrottles {
			return s.fail(ctx, job, broadcast.ReasonThrottled, sendErr, log)
		}
		counted = metrics.OutcomeThrottled
		log.Info("throttled: tenant paused", zap.Duration("retry_after", wait))
		return s.giveBack(ctx, job, store.Change{CountThrottle: true}, queue.Retry(wait, sendErr))
	case teams.Retry, teams.Unauthorized:
		maybe := teams.MaybeDelivered(sendErr)
		if ctx.Err() != nil { // shutting down: the call was cut, not refused
			counted = metrics.OutcomeInterrupted
			return s.giveBack(ctx, job, store.Change{MaybeDelivered: maybe}, ctx.Err())
		}
		if rec.Retries >= s.cfg.MaxRetries {
			return s.fail(ctx, job, broadcast.ReasonRetriesExhausted, sendErr, log)
		}
		counted = metrics.OutcomeRetried
		delay := s.retry.Delay(rec.Retries + 1)
		log.Info("send failed, will retry", zap.Int("retries", rec.Retries+1), zap.Duration("delay", delay),
			zap.Bool("maybe_delivered", maybe), zap.Error(sendErr))
		return s.giveBack(ctx, job, store.Change{CountRetry: true, MaybeDelivered: maybe}, queue.Retry(delay, sendErr))
	case teams.Blocked:
		counted = metrics.OutcomeBlocked
		return s.block(ctx, job, broadcast.ReasonBlockedByUser, sendErr, log)
	case teams.Disabled:
		counted = metrics.OutcomeBlocked
		return s.block(ctx, job, broadcast.ReasonBotDisabled, sendErr, log)
	case teams.NotInstalled, teams.ConversationGone:
		counted = metrics.OutcomeReinstall
		return s.reinstall(ctx, job, conv, sendErr, log)
	case teams.BadMessage:
		reason := broadcast.ReasonBadMessage
		if terr != nil && terr.Status == 413 {
			reason = broadcast.ReasonMessageTooBig
		}
		return s.fail(ctx, job, reason, sendErr, log)
	default:
		if ctx.Err() != nil {
			counted = metrics.OutcomeInterrupted
			return s.release(ctx, job, ctx.Err())
		}
		return s.fail(ctx, job, broadcast.ReasonServiceError, sendErr, log)
	}
}

// recordPolicy retries the record of a delivery: 6 to 11 s in all.
var recordPolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second, Attempts: 8}

// recordSent records a delivery. Teams has the message now, so the record
// is retried for a while rather than letting the job be redelivered: a
// redelivery would send the message a second time.
func (s *Sender) recordSent(ctx context.Context, job broadcast.Job, conv, activityID string, log *zap.Logger) error {
	var res store.Result
	err := recordPolicy.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		var err error
		res, err = s.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
			// The conversation with the activity id: what an edit or a recall needs.
			From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: activityID, ConversationID: conv,
		})
		return err
	})
	switch {
	case errors.Is(err, store.ErrReportBehind):
		log.Warn("delivered and recorded; the unreachable report is behind", zap.Error(err))
	case err != nil:
		log.Error("delivered but could not record it", zap.String("activity_id", activityID), zap.Error(err))
		return err
	case !res.Applied && res.Recipient.ActivityID != activityID:
		// Not this delivery's own record (an earlier try whose answer
		// was lost): another delivery settled the recipient.
		log.Warn("delivered, but the recipient was already settled: a duplicate", zap.String("state", string(res.Prev)))
		return nil
	}
	s.noteSent(ctx, job, activityID, log)
	return nil
}

// engagePolicy bounds the indexing of a delivery for engagement: about 2 s.
var engagePolicy = retry.Policy{Base: 100 * time.Millisecond, Max: time.Second, Attempts: 4}

// noteSent indexes the delivery so that the bot endpoint can tell which
// broadcast a read receipt, a reaction or a card's invoke is about. It
// never fails the job: the message is delivered and recorded; without the
// index only its engagement goes unrecorded.
func (s *Sender) noteSent(ctx context.Context, job broadcast.Job, activityID string, log *zap.Logger) {
	err := engagePolicy.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return s.engage.NoteSent(ctx, job.TenantID, job.UserID, job.BroadcastID, activityID, time.Now())
	})
	if err != nil {
		log.Warn("delivered, but not indexed for engagement: its reads and reactions go unrecorded", zap.String("activity_id", activityID), zap.Error(err))
	}
}

// release gives the recipient back (sending -> pending) so that the job's
// redelivery can claim it again, and returns cause as the job's result.
func (s *Sender) release(ctx context.Context, job broadcast.Job, cause error) error {
	return s.giveBack(ctx, job, store.Change{}, cause)
}

// giveBack releases the recipient with the counters c asks for (a retry, a
// 429, a send that may have been delivered).
func (s *Sender) giveBack(ctx context.Context, job broadcast.Job, c store.Change, cause error) error {
	c.From, c.To, c.LastError = []broadcast.State{broadcast.StateSending}, broadcast.StatePending, errString(cause)
	c.Owner = claimOf(ctx)
	res, err := s.store.Transition(context.WithoutCancel(ctx), job.BroadcastID, job.UserID, c)
	if res.Lost {
		s.log.Warn("claim taken over while this send stalled: not released", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID))
	}
	if err != nil {
		// The claim's lease runs out by itself; the redelivery waits for it.
		s.log.Warn("release recipient", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID), zap.Error(err))
	}
	return cause
}

func (s *Sender) fail(ctx context.Context, job broadcast.Job, reason broadcast.Reason, cause error, log *zap.Logger) error {
	log.Warn("send failed for good", zap.String("reason", string(reason)), zap.Error(cause))
	return s.final(ctx, job, claimed, broadcast.StateFailed, reason, cause, log)
}

func (s *Sender) block(ctx context.Context, job broadcast.Job, reason broadcast.Reason, cause error, log *zap.Logger) error {
	log.Info("recipient cannot receive bot messages", zap.String("reason", string(reason)))
	return s.final(ctx, job, claimed, broadcast.StateBlocked, reason, cause, log)
}

// claimed is the state a send's outcome is recorded from.
var claimed = []broadcast.State{broadcast.StateSending}

// DeadLetter ends the recipient of a send job that will not be delivered
// again (it panicked, or failed queue.DefaultMaxFailures times): failed,
// internal_error, kept in the FAILED stream for a replay. It is the send
// stage's queue.DeadLetter.
func (s *Sender) DeadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return nil // nothing to record: terminated
	}
	log := s.log.With(zap.String("broadcast_id", job.BroadcastID), zap.String("tenant_id", job.TenantID), zap.String("user_id", job.UserID))
	// Whatever state it was left in but a final one; a claim only by this
	// delivery.
	ctx = context.WithValue(ctx, claimKey{}, s.owner(msg))
	return s.final(ctx, job, nil, broadcast.StateFailed, broadcast.ReasonInternalError, cause, log)
}

// final records a final state, moving the recipient from one of from (nil:
// any state but a final one). A failure that may pass is kept in the
// failed-sends stream first, so that every one recorded can be replayed; if
// it cannot be kept, the recipient is released and the job redelivered.
func (s *Sender) final(ctx context.Context, job broadcast.Job, from []broadcast.State, to broadcast.State, reason broadcast.Reason, cause error, log *zap.Logger) error {
	// Teams has answered: record it even when shutdown cancels ctx, rather
	// than leave the claim to its lease.
	ctx = context.WithoutCancel(ctx)
	// A last try that got no answer may have been delivered: a later
	// attempt (this job's redelivery, a replay) may deliver it again.
	maybe := teams.MaybeDelivered(cause)
	if reason.Replayable() {
		f := broadcast.Failure{Job: job, Stage: broadcast.StageSend, State: to, Reason: reason, LastError: errString(cause), At: time.Now().UTC()}
		if err := s.pub.PublishFailure(ctx, f); err != nil {
			return s.giveBack(ctx, job, store.Change{MaybeDelivered: maybe}, err)
		}
	}
	res, err := s.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From: from, To: to, Reason: reason, LastError: errString(cause), MaybeDelivered: maybe,
		Owner: claimOf(ctx),
	})
	switch {
	case errors.Is(err, store.ErrReportBehind):
		log.Warn("recorded; the unreachable report is behind", zap.Error(err))
		return nil
	case err == nil && res.Lost:
		return claimLost()
	}
	return err
}

// reinstall sends the recipient back to the installer once: the app was
// uninstalled or the conversation is gone. The state moves before the install
// job is published, so that the installer finds the recipient installing; if
// the publish fails, the send job is redelivered and the path runs again.
func (s *Sender) reinstall(ctx context.Context, job broadcast.Job, conv string, cause error, log *zap.Logger) error {
	if err := s.store.ForgetConversation(ctx, job.TenantID, job.UserID, conv); err != nil {
		return s.release(ctx, job, err)
	}
	if job.Reinstall >= 1 {
		return s.fail(ctx, job, broadcast.ReasonNotInstalled, cause, log)
	}
	log.Info("conversation gone: back to install", zap.Error(cause))
	res, err := s.store.Transition(context.WithoutCancel(ctx), job.BroadcastID, job.UserID, store.Change{
		From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateInstalling, CountReinstall: true, LastError: errString(cause),
		Owner: claimOf(ctx),
	})
	if err != nil {
		return err
	}
	if res.Lost {
		return claimLost()
	}
	next := broadcast.Job{BroadcastID: job.BroadcastID, TenantID: job.TenantID, UserID: job.UserID, Reinstall: job.Reinstall + 1, Round: job.Round}
	return s.pub.Publish(context.WithoutCancel(ctx), broadcast.StageInstall, next)
}

// claimKey holds the owner of the job's claim in its handler's context:
// every move out of the claim is that owner's (see store.Change.Owner).
type claimKey struct{}

func claimOf(ctx context.Context) string {
	own, _ := ctx.Value(claimKey{}).(string)
	return own
}

// claimLost ends a send whose claim was taken over while it stalled: the
// new owner settles the recipient, and this delivery of the job is handed
// back (not acked) in case that owner dies too.
func claimLost() error {
	return queue.Retry(queue.AckWait, errors.New("claim taken over by another delivery"))
}

// owner names this delivery of the message: a redelivery, here or elsewhere,
// is another owner and cannot take over a live claim.
func (s *Sender) owner(msg jetstream.Msg) string {
	return owner(s.cfg.ProcessID, msg)
}

// renewed turns a renewal's answer into a heartbeat's.
func renewed(held bool, err error) error {
	if err == nil && !held {
		return queue.ErrLost
	}
	return err
}

// retryPolicy spaces the retries of answers that may pass: RetryBase
// doubling to a minute, with jitter; MaxRetries bounds them, counted in the
// recipient's record.
func retryPolicy(cfg Config) retry.Policy {
	return retry.Policy{Base: cfg.RetryBase, Max: time.Minute}
}

// pausePolicy is the pause after a 429 that gave no Retry-After.
var pausePolicy = retry.Policy{Base: time.Second, Max: 30 * time.Second}

// statusOf is the HTTP status of a Connector answer, 0 when there was none.
func statusOf(terr *teams.Error) int {
	if terr == nil {
		return 0
	}
	return terr.Status
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pauseTenant holds every request to the tenant back after a 429: for its
// Retry-After, or a backoff by attempts when it gave none, and returns
// the pause.
func pauseTenant(ctx context.Context, gate *ratelimit.Gate, terr *teams.Error, attempts int, log *zap.Logger) time.Duration {
	wait := time.Duration(0)
	if terr != nil {
		wait = terr.RetryAfter
	}
	if wait <= 0 {
		wait = pausePolicy.Delay(attempts)
	}
	if err := gate.Pause(ctx, wait); err != nil {
		log.Warn("share tenant pause", zap.Error(err))
	}
	return wait
}
