package dispatch

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
)

// Reconcile rebuilds the jobs of broadcasts that have recipients waiting
// (pending, installing, or claimed by a send: sending) and no job at all
// in the stream: jobs lost with NATS's last unsynced second on a power
// loss, or with a lost stream, or a recipient's final state lost with the
// last writes of a Redis master that died before its replica had them
// (docs/OPERATIONS.md), which leaves it sending with its job acked. In
// the pipeline's own flow a waiting recipient always has a job (a worker
// publishes the next stage's job before it acks its own, and acks a send
// after its outcome is recorded), so a broadcast seen that way on two
// passes in a row, with the same number waiting, has lost them. The
// rebuilt jobs are harmless if it had not: a job whose recipient is final,
// or claimed under a live lease, is a no-op; a claim whose lease has run
// out is taken over and sent again, counted as a possible duplicate. A sending broadcast whose
// recipients are all final is completed. Run calls it every ResumeEvery;
// it looks at the broadcasts that have consumers.
func (d *Dispatcher) Reconcile(ctx context.Context) {
	list, err := d.pub.Consumers(ctx, broadcast.StageSend)
	if err != nil {
		d.log.Warn("reconcile: list consumers", zap.Error(err))
		return
	}
	seen := make(map[string]int64, len(list))
	for _, c := range list {
		if !contains(d.cfg.Tenants, c.TenantID) {
			continue
		}
		b, err := d.store.Broadcast(ctx, c.BroadcastID)
		if err != nil || b.Status != broadcast.StatusSending {
			continue
		}
		waiting := b.Counts.Pending + b.Counts.Installing + b.Counts.Sending
		if waiting == 0 {
			// Every recipient final and still sending: a replay that
			// queued nobody could not complete it again.
			if err := d.store.CompleteIfDone(ctx, b.ID); err != nil {
				d.log.Warn("reconcile: complete", zap.String("broadcast_id", b.ID), zap.Error(err))
			}
			continue
		}
		if n, err := d.pub.Jobs(ctx, b.TenantID, b.ID); err != nil || n > 0 {
			continue
		}
		seen[b.ID] = waiting
		d.mu.Lock()
		before, twice := d.stuck[b.ID]
		d.mu.Unlock()
		if !twice || before != waiting {
			continue
		}
		log := d.log.With(zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID))
		n, err := d.rebuild(ctx, b)
		if err != nil {
			log.Error("reconcile: rebuild lost jobs", zap.Int("rebuilt", n), zap.Error(err))
			continue
		}
		log.Warn("rebuilt lost jobs: recipients were waiting with no job in the stream", zap.Int("jobs", n))
		delete(seen, b.ID)
	}
	d.mu.Lock()
	d.stuck = seen
	d.mu.Unlock()
}

// rebuild publishes one job per waiting recipient: a send job for a pending
// one whose conversation is known and for a sending one, an install job
// for an installing one.
func (d *Dispatcher) rebuild(ctx context.Context, b *broadcast.Broadcast) (int, error) {
	total := 0
	// The lost jobs' ids may still be remembered (within the duplicate
	// window): the rebuilt ones get ids of their own.
	suffix := ":rebuilt:" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	for _, st := range []broadcast.State{broadcast.StatePending, broadcast.StateSending, broadcast.StateInstalling} {
		cursor := ""
		for {
			recs, next, err := d.store.Recipients(ctx, b.ID, st, cursor, 1000)
			if err != nil {
				return total, err
			}
			items := make([]queue.Item, 0, len(recs))
			for _, r := range recs {
				job := broadcast.Job{BroadcastID: b.ID, TenantID: b.TenantID, UserID: r.UserID, Reinstall: r.Reinstalls, Round: r.ReplayRound}
				stage := broadcast.StageInstall
				if st != broadcast.StateInstalling && r.ConversationID != "" {
					stage, job.ConversationID = broadcast.StageSend, r.ConversationID
				}
				items = append(items, queue.Item{Stage: stage, Job: job, MsgID: job.MsgID(stage) + suffix})
			}
			if err := d.pub.PublishBatch(ctx, items); err != nil {
				return total, err
			}
			total += len(items)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return total, nil
}
