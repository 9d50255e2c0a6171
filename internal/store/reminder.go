package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// keyReminders is the sorted set of the reminders a create asked for
// that are not sent or skipped yet, members "<broadcast id>/<index>",
// scored by the earliest time (Unix ms) they may be due: every dispatcher
// polls it (DueReminders), and moves a member on (PostponeReminder) while
// its broadcast has not completed.
const keyReminders = "broadcasts:reminders"

// A reminder's meta fields: reminder_of and reminder (its choice, JSON);
// an original's: reminded_by (its reminders' ids, comma separated, added
// by the reminder's create), reminders (its create's, JSON) and
// reminder_state:<i> (what became of the i-th, JSON, once settled).
func reminderFields(b *broadcast.Broadcast) []any {
	var f []any
	if b.ReminderOf != "" {
		f = append(f, "reminder_of", b.ReminderOf)
	}
	if b.Reminder != nil {
		raw, _ := json.Marshal(b.Reminder)
		f = append(f, "reminder", raw)
	}
	if len(b.Reminders) > 0 {
		raw, _ := json.Marshal(b.Reminders)
		f = append(f, "reminders", raw)
	}
	return f
}

// dueReminders are the members of keyReminders a create adds: each of
// its reminders, at the earliest its delay after the creation.
func dueReminders(b *broadcast.Broadcast) []any {
	out := make([]any, 0, 2*len(b.Reminders))
	for i, r := range b.Reminders {
		out = append(out, b.CreatedAt.Add(r.Delay()).UnixMilli(), reminderMember(b.ID, i))
	}
	return out
}

func reminderMember(id string, i int) string { return id + "/" + strconv.Itoa(i) }

// reminderState is a settled reminder's record.
type reminderState struct {
	Status broadcast.ReminderOutcome `json:"status"`
	Reason string                    `json:"reason,omitempty"`
	At     int64                     `json:"at"`
}

func readReminderFields(b *broadcast.Broadcast, m map[string]string) {
	b.ReminderOf = m["reminder_of"]
	if v := m["reminder"]; v != "" {
		var r broadcast.Reminder
		if json.Unmarshal([]byte(v), &r) == nil {
			b.Reminder = &r
		}
	}
	if v := m["reminded_by"]; v != "" {
		b.RemindedBy = strings.Split(v, ",")
	}
	if v := m["reminders"]; v != "" && json.Unmarshal([]byte(v), &b.Reminders) == nil {
		for i := range b.Reminders {
			r := &b.Reminders[i]
			r.Status = broadcast.ReminderWaiting
			var st reminderState
			if raw := m["reminder_state:"+strconv.Itoa(i)]; raw != "" && json.Unmarshal([]byte(raw), &st) == nil {
				at := time.UnixMilli(st.At).UTC()
				r.Status, r.Reason, r.At = st.Status, st.Reason, &at
			}
		}
	}
}

// DueReminder names one of a broadcast's scheduled reminders.
type DueReminder struct {
	BroadcastID string
	Index       int
}

// DueReminders lists up to n scheduled reminders that may be due at now
// (the caller's clock), earliest first.
func (s *Store) DueReminders(ctx context.Context, now time.Time, n int) ([]DueReminder, error) {
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: keyReminders, ByScore: true, Start: "-inf",
		Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(n)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list due reminders: %w", err)
	}
	out := make([]DueReminder, 0, len(members))
	for _, m := range members {
		id, idx, ok := strings.Cut(m, "/")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil {
			// Not one createScript wrote: drop it rather than trip on it forever.
			s.rdb.ZRem(ctx, keyReminders, m)
			continue
		}
		out = append(out, DueReminder{BroadcastID: id, Index: i})
	}
	return out, nil
}

// PostponeReminder moves a scheduled reminder's next look to at, if it is
// still waiting.
func (s *Store) PostponeReminder(ctx context.Context, r DueReminder, at time.Time) error {
	err := s.rdb.ZAddXX(ctx, keyReminders, redis.Z{Score: float64(at.UnixMilli()), Member: reminderMember(r.BroadcastID, r.Index)}).Err()
	if err != nil {
		return fmt.Errorf("postpone reminder %d of %s: %w", r.Index, r.BroadcastID, err)
	}
	return nil
}

// settleReminderScript records what became of a scheduled reminder (the
// first record stays) and stops waiting for it. KEYS: the original's
// meta, broadcasts:reminders. ARGV: field, record, member. Returns 1 if
// this call recorded it.
var settleReminderScript = redis.NewScript(`
local n = 0
if redis.call('EXISTS', KEYS[1]) == 1 then n = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('ZREM', KEYS[2], ARGV[3])
return n`)

// SettleReminder records a scheduled reminder sent or skipped (with
// reason), once: of several dispatchers settling it, the first one's
// record stays. It reports whether this call's did.
func (s *Store) SettleReminder(ctx context.Context, r DueReminder, outcome broadcast.ReminderOutcome, reason string, at time.Time) (bool, error) {
	raw, _ := json.Marshal(reminderState{Status: outcome, Reason: reason, At: at.UnixMilli()})
	n, err := settleReminderScript.Run(ctx, s.rdb, []string{MetaKey(r.BroadcastID), keyReminders},
		"reminder_state:"+strconv.Itoa(r.Index), raw, reminderMember(r.BroadcastID, r.Index)).Int()
	if err != nil {
		return false, fmt.Errorf("settle reminder %d of %s: %w", r.Index, r.BroadcastID, err)
	}
	return n == 1, nil
}

// ReminderOf returns the broadcast a reminder follows up, "" for a
// broadcast that is no reminder (or has no record).
func (s *Store) ReminderOf(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.HGet(ctx, MetaKey(id), "reminder_of").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the original of %s: %w", id, err)
	}
	return v, nil
}
