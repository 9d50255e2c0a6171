package dispatch

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/retry"
)

// sweepBatch is how many recipients one sweep script moves to canceled.
const sweepBatch = 1000

// Cancel stops a broadcast within seconds, in three steps:
//
//  1. the store marks it canceling (store.Cancel), after which no recipient
//     is added to it and none is claimed for a send: a sender that takes one
//     of its jobs, or releases a recipient of it, ends that recipient
//     canceled; a send already on its way to Teams is recorded as it ends;
//  2. its expansion stops at its next page, and its jobs are purged from
//     the stream;
//  3. a sweep moves the recipients still waiting to canceled, a thousand a
//     script, and the broadcast becomes canceled once every recipient is
//     final. The sweep is registered in the store, so a dispatcher that
//     stops half-way resumes it (Run).
//
// The counters stay exact throughout: every move is one script. It returns
// the broadcast and whether this call canceled it and its recipients are
// being stopped (false: an earlier call canceled it, or it was scheduled
// or pending approval, and this call canceled it at once, before its
// start: nothing of it was recorded or queued). A broadcast that
// completed, failed or was rejected before gets a *broadcast.ConflictError.
func (d *Dispatcher) Cancel(ctx context.Context, id string) (*broadcast.Broadcast, bool, error) {
	prev, err := d.store.Cancel(ctx, id)
	if err != nil {
		return nil, false, err
	}
	// From here the cancel has happened (or was refused): the answer says
	// so, whether or not the broadcast can be read for it.
	b := d.afterCancel(ctx, id, prev)
	if prev == broadcast.StatusCompleted {
		return b, false, &broadcast.ConflictError{Code: "already_completed",
			Message: "the broadcast has already completed: every recipient is in a final state, there is nothing left to cancel"}
	}
	if prev == broadcast.StatusFailed {
		return b, false, &broadcast.ConflictError{Code: "failed",
			Message: "the broadcast has failed: its audience could not be expanded (see its error), there is nothing left to cancel"}
	}
	if prev == broadcast.StatusRejected {
		return b, false, &broadcast.ConflictError{Code: "rejected",
			Message: "the broadcast was rejected: nothing was sent, there is nothing left to cancel"}
	}
	if prev == broadcast.StatusScheduled || prev == broadcast.StatusPendingApproval {
		// Canceled at once: it had no recipient and nothing queued.
		d.log.Info("broadcast canceled before its start", zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID),
			zap.String("was", string(prev)))
		return b, false, nil
	}
	changed := prev == broadcast.StatusExpanding || prev == broadcast.StatusSending
	if changed {
		d.log.Info("broadcast canceled", zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID),
			zap.String("was", string(prev)), zap.Int64("recipients", b.Counts.Total), zap.Int64("sent", b.Counts.Sent))
	}
	d.startSweep(id)
	return b, changed, nil
}

// answerReadTimeout bounds the read of a broadcast for the answer to a
// call that has changed it: one try, a stalled store does not hold the
// answer up for its retries.
const answerReadTimeout = 2 * time.Second

// afterCancel reads the broadcast for a cancel's answer; if the store
// cannot tell, the answer is the broadcast as the cancel left it, by the
// status it had (prev), without its counters.
func (d *Dispatcher) afterCancel(ctx context.Context, id string, prev broadcast.Status) *broadcast.Broadcast {
	rctx, cancel := context.WithTimeout(ctx, answerReadTimeout)
	defer cancel()
	b, err := d.store.Broadcast(rctx, id)
	if err == nil {
		return b
	}
	d.log.Warn("cancel done; the broadcast could not be read for the answer", zap.String("broadcast_id", id), zap.Error(err))
	st := prev
	switch prev {
	case broadcast.StatusScheduled, broadcast.StatusPendingApproval:
		st = broadcast.StatusCanceled
	case broadcast.StatusExpanding, broadcast.StatusSending:
		st = broadcast.StatusCanceling
	}
	return &broadcast.Broadcast{ID: id, Status: st}
}

func (d *Dispatcher) startSweep(id string) {
	d.spawn("cancel:"+id, func(ctx context.Context) {
		if err := d.sweep(ctx, id); err != nil && ctx.Err() == nil {
			d.log.Error("cancel sweep stopped; it resumes later", zap.String("broadcast_id", id), zap.Error(err))
		}
	})
}

// stopCanceled ends the expansion of a canceled broadcast: what was
// recorded stays (and is swept to canceled), nothing more is read.
func (d *Dispatcher) stopCanceled(ctx context.Context, id string, log *zap.Logger) error {
	if _, err := d.store.FinishExpansion(ctx, id); err != nil {
		return err
	}
	log.Info("expansion stopped: the broadcast is canceled")
	d.startSweep(id)
	return nil
}

// sweep runs step 2 and 3 of Cancel until the broadcast is canceled. A
// recipient whose send is in flight is left to its sender; one whose sender
// died is swept once its claim runs out, one queue.AckWait after its
// last heartbeat.
func (d *Dispatcher) sweep(ctx context.Context, id string) error {
	b, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return err
	}
	log := d.log.With(zap.String("broadcast_id", id), zap.String("tenant_id", b.TenantID))
	switch b.Status {
	case broadcast.StatusCanceling, broadcast.StatusCanceled, broadcast.StatusFailed:
	default:
		// Registered by a cancel whose script has not run yet, or did
		// not cancel it (store's registry.go): nothing to sweep, and its
		// jobs must stay.
		return d.store.ForgetCanceling(ctx, id)
	}
	// The expansion may run in another dispatcher, or in none: finishing it
	// here lets the broadcast end; a running one stops at its next page.
	if _, err := d.store.FinishExpansion(ctx, id); err != nil {
		return err
	}
	if b.LocalTime != nil {
		if err := d.cancelWaves(ctx, id, log); err != nil {
			return err
		}
	}
	purge := func() error {
		n, err := d.pub.Purge(ctx, b.TenantID, id)
		if n > 0 {
			log.Info("canceled broadcast's jobs removed from the stream", zap.Uint64("jobs", n))
		}
		return err
	}
	if err := purge(); err != nil {
		return err
	}
	moved, failures := 0, 0
	for {
		sw, err := d.store.SweepCanceled(ctx, id, sweepBatch)
		if err != nil {
			failures++
			if failures > 10 {
				return err
			}
			log.Warn("cancel sweep", zap.Error(err))
			if !sleep(ctx, retry.Policy{Base: 500 * time.Millisecond, Max: 10 * time.Second}.Delay(failures)) {
				return ctx.Err()
			}
			continue
		}
		failures = 0
		moved += sw.Moved
		if sw.Status != broadcast.StatusCanceling {
			// Jobs published by an expansion page in flight at the cancel.
			if err := purge(); err != nil {
				log.Warn("purge canceled broadcast's jobs", zap.Error(err))
			}
			log.Info("cancel complete", zap.Int("swept", moved), zap.String("status", string(sw.Status)))
			return nil
		}
		if sw.Moved < sweepBatch && !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
