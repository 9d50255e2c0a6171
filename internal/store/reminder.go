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

// registerReminders adds a create's reminders to keyReminders: each at the
// earliest its delay after the creation. It comes before the create
// (registry.go): a reminder whose broadcast has no record is skipped when
// due.
func (s *Store) registerReminders(ctx context.Context, b *broadcast.Broadcast) error {
	if len(b.Reminders) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(b.Reminders))
	for i, r := range b.Reminders {
		zs[i] = redis.Z{Score: float64(b.CreatedAt.Add(r.Delay()).UnixMilli()), Member: reminderMember(b.ID, i)}
	}
	if err := s.rdb.ZAdd(ctx, s.Key(keyReminders), zs...).Err(); err != nil {
		return fmt.Errorf("register the reminders of %s: %w", b.ID, err)
	}
	return nil
}

// linkReminderScript adds a reminder's id to its original's reminded_by,
// once. KEYS: the original's meta. ARGV: the reminder's id.
var linkReminderScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'reminded_by')
if not cur or cur == '' then cur = ARGV[1]
else
  for v in string.gmatch(cur, '[^,]+') do if v == ARGV[1] then return 0 end end
  cur = cur .. ',' .. ARGV[1]
end
redis.call('HSET', KEYS[1], 'reminded_by', cur)
return 1`)

// linkReminder records reminder as one of original's reminders.
func (s *Store) linkReminder(ctx context.Context, original, reminder string) error {
	if err := linkReminderScript.Run(ctx, s.rdb, []string{s.MetaKey(original)}, reminder).Err(); err != nil {
		return fmt.Errorf("link reminder %s to %s: %w", reminder, original, err)
	}
	return nil
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
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.Key(keyReminders), ByScore: true, Start: "-inf",
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
			s.rdb.ZRem(ctx, s.Key(keyReminders), m)
			continue
		}
		out = append(out, DueReminder{BroadcastID: id, Index: i})
	}
	return out, nil
}

// PostponeReminder moves a scheduled reminder's next look to at, if it is
// still waiting.
func (s *Store) PostponeReminder(ctx context.Context, r DueReminder, at time.Time) error {
	err := s.rdb.ZAddXX(ctx, s.Key(keyReminders), redis.Z{Score: float64(at.UnixMilli()), Member: reminderMember(r.BroadcastID, r.Index)}).Err()
	if err != nil {
		return fmt.Errorf("postpone reminder %d of %s: %w", r.Index, r.BroadcastID, err)
	}
	return nil
}

// settleReminderScript records what became of a scheduled reminder (the
// first record stays). KEYS: the original's meta. ARGV: field, record.
// Returns 1 if this call recorded it.
var settleReminderScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])`)

// SettleReminder records a scheduled reminder sent or skipped (with
// reason), once: of several dispatchers settling it, the first one's
// record stays. It reports whether this call's did.
func (s *Store) SettleReminder(ctx context.Context, r DueReminder, outcome broadcast.ReminderOutcome, reason string, at time.Time) (bool, error) {
	raw, _ := json.Marshal(reminderState{Status: outcome, Reason: reason, At: at.UnixMilli()})
	// The record, then the registry (another slot): a crash between leaves
	// it registered, and the next look finds it settled and settles it again.
	n, err := settleReminderScript.Run(ctx, s.rdb, []string{s.MetaKey(r.BroadcastID)},
		"reminder_state:"+strconv.Itoa(r.Index), raw).Int()
	if err == nil {
		err = s.rdb.ZRem(ctx, s.Key(keyReminders), reminderMember(r.BroadcastID, r.Index)).Err()
	}
	if err != nil {
		return false, fmt.Errorf("settle reminder %d of %s: %w", r.Index, r.BroadcastID, err)
	}
	return n == 1, nil
}

// ReminderOf returns the broadcast a reminder follows up, "" for a
// broadcast that is no reminder (or has no record).
func (s *Store) ReminderOf(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.HGet(ctx, s.MetaKey(id), "reminder_of").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the original of %s: %w", id, err)
	}
	return v, nil
}
