package dispatch

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// DefaultScheduleEvery is how often a dispatcher looks for scheduled
// broadcasts that are due: one starts within about a second of its sendAt.
const DefaultScheduleEvery = time.Second

// dueBatch bounds the due broadcasts one look starts; more wait a tick.
const dueBatch = 500

// checkSchedule refuses a sendAt outside the accepted window (see
// broadcast.CheckSendAt), or a localTime (checkLocalTime). It is not part
// of prepare: a retry of a create with an Idempotency-Key gets the
// broadcast it made however late it comes.
func (d *Dispatcher) checkSchedule(ctx context.Context, b *broadcast.Broadcast) error {
	switch {
	case b.LocalTime != nil:
		return d.checkLocalTime(ctx, b)
	case b.SendAt != nil:
		return broadcast.CheckSendAt(*b.SendAt, d.cfg.Now())
	}
	return nil
}

// watchScheduled starts the scheduled broadcasts as they become due, and
// sends the reminders that do (remindDue), until ctx ends. Every dispatcher runs it; the start is one script
// (store.StartScheduled), so each broadcast is started once, and what a
// dispatcher that dies right after starting one leaves is an expansion
// registered like any other, which every dispatcher resumes (Run).
func (d *Dispatcher) watchScheduled(ctx context.Context) {
	// Dispatchers started together would look at the same instant.
	if !sleep(ctx, rand.N(d.cfg.ScheduleEvery)) {
		return
	}
	t := time.NewTicker(d.cfg.ScheduleEvery)
	defer t.Stop()
	failures := 0
	for {
		err := d.startDue(ctx)
		if err == nil {
			err = d.remindDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			// Redis away: say so once in a while, keep looking.
			if failures++; failures == 1 || failures%60 == 0 {
				d.log.Warn("look for scheduled broadcasts that are due", zap.Int("failures", failures), zap.Error(err))
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startDue starts the scheduled broadcasts and the zone waves due now and
// begins their expansion here.
func (d *Dispatcher) startDue(ctx context.Context) error {
	if err := d.startDueWaves(ctx); err != nil {
		return err
	}
	ids, err := d.store.DueScheduled(ctx, dueBatch)
	if err != nil {
		return err
	}
	for _, id := range ids {
		started, verdict, err := d.store.StartScheduled(ctx, id, d.cfg.Tenants)
		if err != nil {
			return err
		}
		log := d.log.With(zap.String("broadcast_id", id))
		switch {
		case started:
			log.Info("scheduled broadcast started")
			d.start(id)
		case verdict == "foreign", verdict == "early":
			// Another deployment's (its dispatcher starts it), or due by
			// this host's clock only: left scheduled.
		default:
			log.Debug("scheduled broadcast not started here", zap.String("status", verdict))
		}
	}
	return nil
}
