package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Replay queues again the recipients of a broadcast kept in the
// failed-sends stream that match req, as replay round N:
//
//  1. the store counts the round and reopens a completed broadcast
//     (completed -> sending), and the broadcast's consumers are made sure of;
//  2. for each failure kept, oldest first, the recipient's record is read:
//     only one still failed or blocked, with a reason the request allows,
//     and not reopened by this round or a later one, goes on;
//  3. its job, carrying the round, is published (to the installer when no
//     conversation is known or the install failed, else to the senders),
//     and then the recipient is reopened (failed -> pending or installing).
//
// The job goes first so that nothing is lost if the dispatcher dies in
// between: a job whose round is later than its recipient's reopens the
// recipient itself. Reopening is a compare-and-set on the round, so a
// recipient is queued once per round, and replaying twice never delivers
// twice: a recipient sent in one round is sent, not failed, in the next.
//
// An error means that no round started (step 1 is fenced: see
// store.Fence), or a *broadcast.OutcomeUnknownError. Once the round has
// started the replay has happened, in part at least: a later step that
// fails (Redis or NATS stalled) stops it with the result marked
// Incomplete, what it queued stays queued, and a replay again takes the
// rest. A job whose publish got no ack is published again with the same
// message id until NATS confirms it (queue.PublishConfirmed).
func (d *Dispatcher) Replay(ctx context.Context, id string, req *broadcast.ReplayRequest) (*broadcast.ReplayResult, error) {
	b, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return nil, err
	}
	if !contains(d.cfg.Tenants, b.TenantID) {
		return nil, fmt.Errorf("broadcast %s of a tenant this deployment does not serve: %w", id, store.ErrNotFound)
	}
	round, err := d.store.StartReplay(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &broadcast.ReplayResult{BroadcastID: id, Round: round}
	d.endReplay(ctx, b, res, d.queueReplay(ctx, b, req, res))
	return res, nil
}

// queueReplay runs steps 2 and 3 of round res.Round, counting in res.
func (d *Dispatcher) queueReplay(ctx context.Context, b *broadcast.Broadcast, req *broadcast.ReplayRequest, res *broadcast.ReplayResult) error {
	// The consumers go once a broadcast completes; the reopen came first,
	// so a scheduler removing them now puts them back (queue.Scheduler).
	if err := d.pub.EnsureConsumers(ctx, b.TenantID, b.ID, b.Priority); err != nil {
		return err
	}
	allowed := req.Allowed()
	var users map[string]bool
	if len(req.UserIDs) > 0 {
		users = make(map[string]bool, len(req.UserIDs))
		for _, u := range req.UserIDs {
			users[u] = true
		}
	}
	err := d.pub.Failures(ctx, b.TenantID, b.ID, func(f broadcast.Failure) error {
		if (users != nil && !users[f.Job.UserID]) || !slices.Contains(allowed, f.Reason) {
			res.Skipped++
			return nil
		}
		queued, err := d.replayOne(ctx, f, res.Round, allowed)
		switch {
		case queued:
			res.Queued++
			if d.replayedOne != nil {
				d.replayedOne()
			}
		case err == nil:
			res.Skipped++
		}
		return err
	}, func(seq uint64, err error) {
		d.log.Error("a kept failure cannot be decoded: skipped", zap.String("broadcast_id", b.ID), zap.Uint64("seq", seq), zap.Error(err))
	})
	if err == nil && res.Queued > 0 {
		// Between two reopens every recipient may be final for a moment
		// (the ones queued so far already settled), the broadcast completes,
		// and a scheduler removes its consumers; the reopens after it made
		// it sending again, with jobs that nothing would consume.
		err = d.pub.EnsureConsumers(ctx, b.TenantID, b.ID, b.Priority)
	}
	return err
}

// replayOne queues one failure's recipient again, if its record allows.
// queued is true once its job is in the stream, even if the reopen that
// follows failed (the job reopens the recipient itself).
func (d *Dispatcher) replayOne(ctx context.Context, f broadcast.Failure, round int, allowed []broadcast.Reason) (queued bool, err error) {
	rec, err := d.store.Recipient(ctx, f.Job.BroadcastID, f.Job.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if (rec.State != broadcast.StateFailed && rec.State != broadcast.StateBlocked) ||
		rec.ReplayRound >= round || !slices.Contains(allowed, rec.Reason) {
		return false, nil
	}
	job := broadcast.Job{BroadcastID: f.Job.BroadcastID, TenantID: f.Job.TenantID, UserID: f.Job.UserID, Round: round}
	stage, to := broadcast.StageSend, broadcast.StatePending
	switch rec.Reason {
	case broadcast.ReasonInstallFailed, broadcast.ReasonUserNotFound, broadcast.ReasonNotInstalled:
		stage, to = broadcast.StageInstall, broadcast.StateInstalling
	default:
		if rec.ConversationID == "" {
			stage, to = broadcast.StageInstall, broadcast.StateInstalling
		}
		job.ConversationID = rec.ConversationID
	}
	if stage == broadcast.StageInstall {
		job.ConversationID = ""
	}
	if err := d.pub.PublishConfirmed(ctx, stage, job, d.cfg.PublishBudget); err != nil {
		return false, err
	}
	r, err := d.store.Reopen(ctx, job.BroadcastID, job.UserID, round, to, allowed)
	if err != nil {
		return true, err
	}
	// Not applied: the job reopened it first, or it moved meanwhile; the
	// job is harmless either way (its claim finds the recipient's state).
	return r.Applied || r.Recipient.ReplayRound == round, nil
}

// endReplay logs the replay, marks it incomplete if err stopped it and,
// when it queued nobody, completes the broadcast again (StartReplay
// reopened it).
func (d *Dispatcher) endReplay(ctx context.Context, b *broadcast.Broadcast, res *broadcast.ReplayResult, err error) {
	log := d.log.With(zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID), zap.Int("round", res.Round))
	if res.Queued == 0 {
		if cerr := d.store.CompleteIfDone(context.WithoutCancel(ctx), b.ID); cerr != nil {
			log.Warn("a replay that queued nobody could not complete the broadcast again; Reconcile does", zap.Error(cerr))
		}
	}
	if err != nil {
		res.Incomplete = true
		log.Error("replay stopped; what it queued stays queued, and another replay takes the rest",
			zap.Int("queued", res.Queued), zap.Int("skipped", res.Skipped), zap.Error(err))
		return
	}
	log.Info("replay queued", zap.Int("queued", res.Queued), zap.Int("skipped", res.Skipped))
}
