package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/remind"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// DefaultReminderRecheck is how often a scheduled reminder whose broadcast
// has not completed yet is looked at again.
const DefaultReminderRecheck = time.Minute

// Remind sends a reminder of broadcast id now: a broadcast of kind
// reminder to the recipients req.To chooses among those id was delivered
// to (remind.Select), chosen now. A reminder of a reminder reminds of its
// original. It answers a ConflictError when there is nobody to remind, or
// when id cannot be (broadcast.Remindable, or no acknowledge button for
// an unacknowledged reminder).
func (d *Dispatcher) Remind(ctx context.Context, id string, req *broadcast.RemindRequest) (*broadcast.Broadcast, error) {
	of, b, activity, err := d.prepareReminder(ctx, id, req.To, req.Message, req.CreatedBy)
	if err != nil {
		return nil, err
	}
	if err := d.chooseReminded(ctx, of, b); err != nil {
		return nil, err
	}
	d.holdReminder(b, req.Message != nil)
	if err := d.record(ctx, b, activity); err != nil {
		return nil, err
	}
	metrics.ReminderSent(b.TenantID, "api")
	return b, nil
}

// RemindOnce is Remind for a request carrying an Idempotency-Key, as
// CreateOnce is Create's: a retry with the same request gets the reminder
// the first one made (its recipients as chosen then), replayed = true.
func (d *Dispatcher) RemindOnce(ctx context.Context, id string, req *broadcast.RemindRequest, key string) (*broadcast.Broadcast, bool, error) {
	if err := broadcast.CheckIdempotencyKey(key); err != nil {
		return nil, false, err
	}
	of, b, activity, err := d.prepareReminder(ctx, id, req.To, req.Message, req.CreatedBy)
	if err != nil {
		return nil, false, err
	}
	return d.once(ctx, b, key, reminderHash(b, activity), func(bool) error {
		if err := d.chooseReminded(ctx, of, b); err != nil {
			d.release(ctx, b, key)
			return err
		}
		d.holdReminder(b, req.Message != nil)
		if err := d.recordClaimed(ctx, b, activity, key); err != nil {
			return err
		}
		metrics.ReminderSent(b.TenantID, "api")
		return nil
	})
}

// prepareReminder checks that broadcast id can be reminded to to, and
// returns its original (id, or the one a reminder reminds of) and the
// reminder to record, without recipients yet, with its activity.
func (d *Dispatcher) prepareReminder(ctx context.Context, id string, to broadcast.RemindTo, msg *broadcast.Message, by string) (*broadcast.Broadcast, *broadcast.Broadcast, []byte, error) {
	of, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if of.Kind == broadcast.KindReminder && of.ReminderOf != "" {
		if of, err = d.store.Broadcast(ctx, of.ReminderOf); err != nil {
			return nil, nil, nil, fmt.Errorf("original of reminder %s: %w", id, err)
		}
	}
	if !d.Serves(of.TenantID) {
		return nil, nil, nil, fmt.Errorf("broadcast %s of a tenant this dispatcher does not serve: %w", id, store.ErrNotFound)
	}
	if err := broadcast.Remindable(of); err != nil {
		return nil, nil, nil, err
	}
	b, activity, err := d.newReminder(ctx, of, to, msg, by, "")
	return of, b, activity, err
}

// newReminder returns the reminder of of to record (id, or a new one),
// with its activity: msg, else of's message led by the reminder prefix.
func (d *Dispatcher) newReminder(ctx context.Context, of *broadcast.Broadcast, to broadcast.RemindTo, msg *broadcast.Message, by, id string) (*broadcast.Broadcast, []byte, error) {
	original, err := d.store.Activity(ctx, of.ID)
	if err != nil {
		return nil, nil, err
	}
	if to == broadcast.RemindUnacknowledged && !message.HasAck(original) {
		return nil, nil, &broadcast.ConflictError{Code: "no_acknowledge", Message: fmt.Sprintf(
			"broadcast %s has no acknowledge button, so nobody can have acknowledged it: remind to %q instead", of.ID, broadcast.RemindUnread)}
	}
	var m broadcast.Message
	var activity []byte
	if msg != nil {
		m = *msg
		if activity, err = message.Build(m); err != nil {
			return nil, nil, err
		}
	} else {
		m = message.Reminder(of.Message, d.cfg.ReminderPrefix)
		if activity, err = message.Build(m); err != nil {
			// The prefix made it too big: the original's as it was.
			m, activity = of.Message, original
		}
	}
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("new broadcast id: %w", err)
		}
		id = u.String()
	}
	b := &broadcast.Broadcast{ID: id, TenantID: of.TenantID, Message: m, Priority: of.Priority.OrNormal(),
		Status: broadcast.StatusExpanding, Kind: broadcast.KindReminder, ReminderOf: of.ID, CreatedBy: by,
		Reminder: &broadcast.Reminder{To: to}, CreatedAt: d.cfg.Now().UTC().Truncate(time.Millisecond)}
	return b, activity, nil
}

// chooseReminded sets the reminder's recipients, chosen now among of's, or
// answers a ConflictError when there are none.
func (d *Dispatcher) chooseReminded(ctx context.Context, of, b *broadcast.Broadcast) error {
	scheduled := b.Reminder.Scheduled
	users, sum, err := remind.Select(ctx, d.store, d.engage, of.ID, of.Counts.Total, b.Reminder.To)
	if err != nil {
		return err
	}
	sum.Scheduled = scheduled
	if len(users) == 0 {
		return &broadcast.ConflictError{Code: "nobody_to_remind", Message: nobody(of.ID, sum)}
	}
	b.Audience = broadcast.Audience{UserIDs: users}
	b.Reminder = &sum
	return nil
}

// holdReminder holds back for an approver, as a create would be, a
// reminder with a message of its own: it is a new message to its
// recipients. One with the original's message was approved with it, or
// not held back.
func (d *Dispatcher) holdReminder(b *broadcast.Broadcast, ownMessage bool) {
	if !ownMessage {
		return
	}
	if rule := d.cfg.Approval.Policy.Requires(b.Audience); rule != "" {
		b.Status, b.Approval = broadcast.StatusPendingApproval, &broadcast.Approval{Rule: rule}
	}
}

func nobody(id string, s broadcast.Reminder) string {
	why := fmt.Sprintf("all %d acknowledged it", s.Delivered)
	if s.To == broadcast.RemindUnread {
		why = fmt.Sprintf("%d read it and %d have read receipts off or unknown", s.Read, s.ReceiptsUnknown)
	}
	if s.Delivered == 0 {
		why = "it was delivered to nobody yet"
	}
	return fmt.Sprintf("nobody to remind of broadcast %s: of the %d recipients it was delivered to, %s (%d not delivered are never reminded)",
		id, s.Delivered, why, s.NotDelivered)
}

// remindDue sends or skips the scheduled reminders that are due by the
// dispatcher's clock. Each has the id its create gave it, and the create
// script leaves a broadcast written under an id as it is, so of several
// dispatchers sending it at once only one reminder is made; then it is
// settled (store.SettleReminder), once.
func (d *Dispatcher) remindDue(ctx context.Context) error {
	now := d.cfg.Now()
	due, err := d.store.DueReminders(ctx, now, dueBatch)
	if err != nil {
		return err
	}
	for _, r := range due {
		if err := d.fireReminder(ctx, r, now); err != nil {
			return fmt.Errorf("reminder %d of %s: %w", r.Index, r.BroadcastID, err)
		}
	}
	return nil
}

// fireReminder sends, skips or postpones one scheduled reminder. It waits
// for its broadcast to complete (every recipient final), then for its
// delay: measured from the end of the sends, every recipient has had at
// least that long, however long a throttled send took.
func (d *Dispatcher) fireReminder(ctx context.Context, r store.DueReminder, now time.Time) error {
	log := d.log.With(zap.String("broadcast_id", r.BroadcastID), zap.Int("reminder", r.Index))
	of, err := d.store.Broadcast(ctx, r.BroadcastID)
	if errors.Is(err, store.ErrNotFound) {
		return d.skipReminder(ctx, r, now, "the broadcast is no longer kept", log)
	}
	if err != nil {
		return err
	}
	if !d.Serves(of.TenantID) {
		return nil // another deployment's dispatcher sends it
	}
	if r.Index >= len(of.Reminders) {
		return d.skipReminder(ctx, r, now, "the broadcast has no such reminder", log)
	}
	spec := of.Reminders[r.Index]
	switch {
	case spec.Status != broadcast.ReminderWaiting:
		_, err := d.store.SettleReminder(ctx, r, spec.Status, spec.Reason, now) // settled: stop waiting
		return err
	case of.Recall != nil:
		return d.skipReminder(ctx, r, now, "the broadcast was recalled", log)
	case of.Status == broadcast.StatusCanceling || of.Status == broadcast.StatusCanceled:
		return d.skipReminder(ctx, r, now, "the broadcast was canceled", log)
	case of.Status == broadcast.StatusRejected:
		return d.skipReminder(ctx, r, now, "the broadcast was rejected by an approver", log)
	case of.Status == broadcast.StatusFailed:
		return d.skipReminder(ctx, r, now, "the broadcast failed: "+of.Error, log)
	case of.Status != broadcast.StatusCompleted || of.CompletedAt == nil:
		return d.store.PostponeReminder(ctx, r, now.Add(d.cfg.ReminderRecheck))
	}
	if at := of.CompletedAt.Add(spec.Delay()); at.After(now) {
		return d.store.PostponeReminder(ctx, r, at)
	}
	if _, err := d.store.Broadcast(ctx, spec.ID); err == nil {
		// Made by a dispatcher that stopped before settling it.
		_, err := d.store.SettleReminder(ctx, r, broadcast.ReminderSent, "", now)
		return err
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	b, activity, err := d.newReminder(ctx, of, spec.To, nil, of.CreatedBy, spec.ID)
	var conflict *broadcast.ConflictError
	if errors.As(err, &conflict) {
		return d.skipReminder(ctx, r, now, conflict.Message, log)
	}
	if err != nil {
		return err
	}
	idx := r.Index
	b.Reminder.Scheduled = &idx
	if err := d.chooseReminded(ctx, of, b); errors.As(err, &conflict) {
		return d.skipReminder(ctx, r, now, conflict.Message, log)
	} else if err != nil {
		return err
	}
	if err := d.record(ctx, b, activity); err != nil {
		return err
	}
	if settled, err := d.store.SettleReminder(ctx, r, broadcast.ReminderSent, "", now); err != nil {
		return err
	} else if settled {
		metrics.ReminderSent(b.TenantID, "scheduled")
		log.Info("scheduled reminder sent", zap.String("reminder_id", b.ID), zap.Int64("recipients", b.Reminder.Recipients),
			zap.Int64("receipts_unknown", b.Reminder.ReceiptsUnknown))
	}
	return nil
}

func (d *Dispatcher) skipReminder(ctx context.Context, r store.DueReminder, now time.Time, reason string, log *zap.Logger) error {
	settled, err := d.store.SettleReminder(ctx, r, broadcast.ReminderSkipped, reason, now)
	if err == nil && settled {
		metrics.ReminderSkipped()
		log.Info("scheduled reminder skipped", zap.String("reason", reason))
	}
	return err
}

// scheduleReminders gives each of a create's reminders the id its
// broadcast will have, and refuses an unacknowledged one of a message
// without the acknowledge button.
func (d *Dispatcher) scheduleReminders(b *broadcast.Broadcast, specs []broadcast.ReminderSpec, activity []byte) error {
	if len(specs) == 0 {
		return nil
	}
	hasAck := message.HasAck(activity)
	b.Reminders = make([]broadcast.ScheduledReminder, len(specs))
	for i, s := range specs {
		if s.To == broadcast.RemindUnacknowledged && !hasAck {
			return broadcast.Invalid(fmt.Sprintf("reminders[%d].to", i),
				"the message has no acknowledge button (message.template.acknowledge), so nobody can acknowledge it: remind %q instead", broadcast.RemindUnread)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new broadcast id: %w", err)
		}
		b.Reminders[i] = broadcast.ScheduledReminder{ReminderSpec: s, ID: id.String(), Status: broadcast.ReminderWaiting}
	}
	return nil
}
