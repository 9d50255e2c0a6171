package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// changePage is how many sent recipients one step of an edit's or a
// recall's queueing looks at.
const changePage = 1000

// Edit replaces a broadcast's message and updates it for every recipient
// who got it:
//
//  1. the message is validated and its activity built as a create's;
//  2. the store starts edit round N (store.StartEdit): the new message and
//     activity replace the broadcast's, so recipients not sent yet get the
//     new one, and the round's counters start at zero;
//  3. a queueing task (resumed by any dispatcher if this one stops) walks
//     the sent recipients a page at a time and publishes one edit job per
//     recipient with an activity id, then counts them (the job goes first:
//     a job whose target is not counted yet counts it itself);
//  4. the senders update each message (queue stage edit, send.Changer). A
//     send that was on its way when the edit started queues its recipient
//     itself once recorded (send.Sender's follow-up).
//
// A newer edit supersedes this one: its round retargets every recipient,
// and the older round's jobs are acked without a call. An edit after a
// recall is a *broadcast.ConflictError.
func (d *Dispatcher) Edit(ctx context.Context, id string, req *broadcast.EditRequest) (*broadcast.ChangeResult, error) {
	b, err := d.served(ctx, id)
	if err != nil {
		return nil, err
	}
	activity, err := message.Build(req.Message)
	if err != nil {
		return nil, err
	}
	round, sent, err := d.store.StartEdit(ctx, id, req.Message, activity)
	if err != nil {
		return nil, err
	}
	d.log.Info("edit started", zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID), zap.Int("round", round), zap.Int64("sent", sent))
	d.startChange(id, broadcast.StageEdit, round)
	return &broadcast.ChangeResult{BroadcastID: id, Round: round, Queued: sent}, nil
}

// Recall deletes a broadcast's message for every recipient who got it,
// and stops what is not sent yet: the store starts the recall (once: a
// second call returns started false) and cancels the broadcast in the
// same step (a completed one stays completed), and the recipients sent
// are queued for a delete as an edit's are for an update. From then on an
// edit is refused, and an edit's jobs not yet done are skipped.
func (d *Dispatcher) Recall(ctx context.Context, id string) (*broadcast.ChangeResult, bool, error) {
	b, err := d.served(ctx, id)
	if err != nil {
		return nil, false, err
	}
	started, queued, was, err := d.store.StartRecall(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if started {
		d.log.Info("recall started", zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID),
			zap.Int64("sent", queued), zap.String("was", string(was)))
	}
	switch was {
	case broadcast.StatusExpanding, broadcast.StatusSending, broadcast.StatusCanceling:
		d.startSweep(id)
	}
	d.startChange(id, broadcast.StageRecall, 1)
	return &broadcast.ChangeResult{BroadcastID: id, Round: 1, Queued: queued}, started, nil
}

func (d *Dispatcher) served(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	b, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return nil, err
	}
	if !contains(d.cfg.Tenants, b.TenantID) {
		return nil, fmt.Errorf("broadcast %s of a tenant this deployment does not serve: %w", id, store.ErrNotFound)
	}
	return b, nil
}

// startChange runs the queueing of a change's round unless it runs already.
func (d *Dispatcher) startChange(id string, op broadcast.Stage, round int) {
	d.spawn(string(op)+":"+id+":"+strconv.Itoa(round), func(ctx context.Context) {
		log := d.log.With(zap.String("broadcast_id", id), zap.String("op", string(op)), zap.Int("round", round))
		if err := d.queueChange(ctx, id, op, round, log); err != nil && ctx.Err() == nil {
			log.Error("queueing stopped; it resumes later", zap.Error(err))
		}
	})
}

// resumeChanges starts the queueing of every change registered and not
// done (a dispatcher stopped during it, or an error stopped it).
func (d *Dispatcher) resumeChanges(ctx context.Context) {
	refs, err := d.store.Changing(ctx)
	if err != nil {
		d.log.Warn("list changes to resume", zap.Error(err))
		return
	}
	for _, ref := range refs {
		st, err := d.store.Change(ctx, ref.BroadcastID, ref.Op)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Registered, then not started (or the broadcast is gone): after
			// a minute nothing is starting it any more.
			if err := d.store.Unregister(ctx, ref, time.Now().Add(-time.Minute)); err != nil {
				d.log.Warn("forget a change never started", zap.Error(err))
			}
		case err != nil:
			d.log.Warn("read a change to resume", zap.String("broadcast_id", ref.BroadcastID), zap.Error(err))
		case st.Enumerated:
			if err := d.store.Unregister(ctx, ref, st.StartedAt.Add(time.Millisecond)); err != nil {
				d.log.Warn("unregister a queued change", zap.Error(err))
			}
		default:
			d.startChange(ref.BroadcastID, ref.Op, st.Round)
		}
	}
	d.reconcileChanges(ctx)
}

// reconcileChanges rebuilds the lost jobs of edits and recalls, as
// Reconcile does for sends: a running change whose every recipient is
// queued, with some waiting and no job of its stage in the stream, seen
// so on two passes in a row with the same number waiting, gets a job per
// waiting recipient again (a needless one is a no-op: its claim finds the
// recipient claimed or final).
func (d *Dispatcher) reconcileChanges(ctx context.Context) {
	seen := make(map[string]int64)
	for _, op := range queue.ChangeStages {
		list, err := d.pub.Consumers(ctx, op)
		if err != nil {
			d.log.Warn("reconcile changes: list consumers", zap.Error(err))
			return
		}
		for _, c := range list {
			if !contains(d.cfg.Tenants, c.TenantID) {
				continue
			}
			st, err := d.store.Change(ctx, c.BroadcastID, op)
			if err != nil || st.Status != broadcast.ChangeRunning || !st.Enumerated || st.Pending == 0 {
				continue
			}
			if n, err := d.pub.StageJobs(ctx, op, c.TenantID, c.BroadcastID); err != nil || n > 0 {
				continue
			}
			key := string(op) + ":" + c.BroadcastID + ":" + strconv.Itoa(st.Round)
			seen[key] = st.Pending
			d.mu.Lock()
			before, twice := d.stuckChanges[key]
			d.mu.Unlock()
			if !twice || before != st.Pending {
				continue
			}
			log := d.log.With(zap.String("broadcast_id", c.BroadcastID), zap.String("tenant_id", c.TenantID), zap.String("op", string(op)), zap.Int("round", st.Round))
			users, err := d.store.ChangeWaiting(ctx, c.BroadcastID, op, st.Round)
			if err != nil {
				log.Error("reconcile: list the waiting recipients", zap.Error(err))
				continue
			}
			suffix := ":rebuilt:" + strconv.FormatInt(time.Now().UnixMilli(), 10)
			items := make([]queue.Item, len(users))
			for i, u := range users {
				j := broadcast.Job{BroadcastID: c.BroadcastID, TenantID: c.TenantID, UserID: u, Round: st.Round}
				items[i] = queue.Item{Stage: op, Job: j, MsgID: j.MsgID(op) + suffix}
			}
			if err := d.pub.PublishBatch(ctx, items); err != nil {
				log.Error("reconcile: rebuild lost jobs", zap.Error(err))
				continue
			}
			log.Warn("rebuilt lost jobs: recipients were waiting with no job in the stream", zap.Int("jobs", len(items)))
			delete(seen, key)
		}
	}
	d.mu.Lock()
	d.stuckChanges = seen
	d.mu.Unlock()
}

// queueChange publishes a job for every recipient of the round who got the
// message, from the saved cursor, then marks the round queued.
func (d *Dispatcher) queueChange(ctx context.Context, id string, op broadcast.Stage, round int, log *zap.Logger) error {
	b, err := d.store.Broadcast(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d.store.Unregister(ctx, store.ChangeRef{BroadcastID: id, Op: op}, time.Now())
	}
	if err != nil {
		return err
	}
	if !contains(d.cfg.Tenants, b.TenantID) {
		return nil // another deployment's
	}
	if err := d.pub.EnsureConsumers(ctx, b.TenantID, id, b.Priority, op); err != nil {
		return err
	}
	queued := 0
	for {
		st, err := d.store.Change(ctx, id, op)
		if err != nil {
			return err
		}
		if st.Round != round {
			log.Info("superseded by a newer edit", zap.Int("queued", queued), zap.Int("newer_round", st.Round))
			return nil
		}
		if st.Enumerated {
			break
		}
		if op == broadcast.StageEdit && st.Recalled {
			log.Info("the message is recalled: the edit stops queueing", zap.Int("queued", queued))
			break
		}
		users, next, superseded, err := d.store.ChangeCandidates(ctx, id, op, round, st.Cursor, changePage)
		if err != nil {
			return err
		}
		if superseded {
			continue // the next pass logs it
		}
		items := make([]queue.Item, len(users))
		for i, u := range users {
			items[i] = queue.Item{Stage: op, Job: broadcast.Job{BroadcastID: id, TenantID: b.TenantID, UserID: u, Round: round}}
		}
		if err := d.pub.PublishBatch(ctx, items); err != nil {
			return err
		}
		cursor := next
		if cursor == "" {
			cursor = "-" // the last page: FinishChangeQueueing clears it
		}
		n, err := d.store.AddChangeTargets(ctx, id, op, round, users, cursor)
		if err != nil {
			return err
		}
		queued += max(n, 0)
		if next == "" {
			if err := d.store.FinishChangeQueueing(ctx, id, op, round); err != nil {
				return err
			}
			break
		}
	}
	if err := d.store.FinishChangeQueueing(ctx, id, op, round); err != nil {
		return err
	}
	st, err := d.store.Change(ctx, id, op)
	if err != nil {
		return err
	}
	if st.Round == round {
		if err := d.store.Unregister(ctx, store.ChangeRef{BroadcastID: id, Op: op}, st.StartedAt.Add(time.Millisecond)); err != nil {
			return err
		}
	}
	log.Info("every recipient queued", zap.Int("queued", queued), zap.Int64("total", st.Total))
	return nil
}
