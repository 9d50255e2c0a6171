package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// createScript writes a new broadcast in one step: its record, counters
// and audience lists. A broadcast already written under the id is left as
// it is. Its place in the listings and its registration (for expansion,
// its start or an approval) are written before, by CreateBroadcast: they
// are other slots (registry.go).
//
// KEYS: meta, counts, users, in:upns, in:xids, in:xupns (then the fence's
// record). ARGV: id, created_at (ms), the registration's score, then
// sections, each its length and its items: the meta's fields and values,
// the counters' and values, the four lists (then the fence's). Returns
// created, or exists.
var createScript = fencedScript(`
local function apply()
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
  local i = 4
  local function section()
    local n = tonumber(ARGV[i])
    local from = i + 1
    i = from + n
    return from, n
  end
  local from, n = section()
  redis.call('HSET', KEYS[1], unpack(ARGV, from, from + n - 1))
  from, n = section()
  redis.call('HSET', KEYS[2], unpack(ARGV, from, from + n - 1))
  for k = 3, 6 do
    redis.call('DEL', KEYS[k])
    from, n = section()
    for j = from, from + n - 1, 1000 do
      redis.call('RPUSH', KEYS[k], unpack(ARGV, j, math.min(j + 999, from + n - 1)))
    end
  end
  return 'created'
end
`)

// CreateBroadcast records a new broadcast, its ready-to-send activity and,
// for an explicit audience, its user list, in one fenced script (fence.go):
// it returns nil once the broadcast is written (by this call, or by an
// earlier create holding the same Idempotency-Key and id),
// ErrNotApplied when it is not and never will be, or a
// *broadcast.OutcomeUnknownError.
func (s *Store) CreateBroadcast(ctx context.Context, b *broadcast.Broadcast, activity []byte) error {
	k, a := s.keysOf(b.ID), s.audienceKeysOf(b.ID)
	msg, err := json.Marshal(b.Message)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	// The audience is resolved into a set first (audience.go); its spec
	// keeps the small parts, its lists the long ones.
	spec, err := json.Marshal(broadcast.Audience{AllUsers: b.Audience.AllUsers, IncludeGuests: b.Audience.IncludeGuests,
		GroupIDs: b.Audience.GroupIDs, Exclude: broadcast.Exclusion{GroupIDs: b.Audience.Exclude.GroupIDs}})
	if err != nil {
		return fmt.Errorf("encode audience: %w", err)
	}
	// A scheduled broadcast is registered for its start (by sendAt), the
	// others for expansion (by the time of registration).
	// One waiting for approval is registered in broadcasts:pending_approval
	// only: nothing starts it but an approval (Decide).
	status, register, score := broadcast.StatusExpanding, s.Key(keyExpanding), s.nowMS()
	switch b.Status {
	case broadcast.StatusScheduled:
		if b.SendAt == nil {
			return fmt.Errorf("create broadcast %s: scheduled without a sendAt", b.ID)
		}
		status, register, score = broadcast.StatusScheduled, s.Key(keyScheduled), b.SendAt.UnixMilli()
	case broadcast.StatusPendingApproval:
		if b.Approval == nil || b.Approval.Rule == "" {
			return fmt.Errorf("create broadcast %s: pending approval without the rule that wants it", b.ID)
		}
		status, register, score = broadcast.StatusPendingApproval, s.Key(keyPendingApproval), b.CreatedAt.UnixMilli()
	}
	created := b.CreatedAt.UnixMilli()
	args := []any{b.ID, created, score}
	args = section(args, append([]any{"id", b.ID, "tenant", b.TenantID, "status", string(status),
		"created_at", created, "message", msg, "activity", activity,
		"audience_spec", spec, "priority", string(b.Priority.OrNormal()), "cursor", "", "expanded", "0"},
		append(append(scheduleFields(b), approvalFields(b)...), reminderFields(b)...)...)...)
	counts := []any{"total", 0}
	for _, st := range broadcast.States {
		counts = append(counts, string(st), 0)
	}
	args = section(args, counts...)
	for _, list := range [][]string{b.Audience.UserIDs, b.Audience.UPNs, b.Audience.Exclude.UserIDs, b.Audience.Exclude.UPNs} {
		items := make([]any, len(list))
		for i, u := range list {
			items[i] = u
		}
		args = section(args, items...)
	}
	// Listed and registered first (registry.go): a create that fails after
	// leaves entries without a record, which the lists skip and the
	// registries' readers forget; one that succeeded is never unlisted.
	if err := s.register(ctx, b.ID, registration{s.Key(keyAll), created}, registration{s.tenantListKey(b.TenantID), created},
		registration{register, score}); err != nil {
		return err
	}
	// Its scheduled reminders too: one without a record is skipped when
	// due (a minute at the earliest after the create), and forgotten.
	if err := s.registerReminders(ctx, b); err != nil {
		return err
	}
	keys := []string{k.meta, k.counts, k.users, a.upns, a.xids, a.xupns}
	op := "create"
	switch b.Kind {
	case broadcast.KindPreview:
		op = "preview"
	case broadcast.KindReminder:
		op = "remind"
	}
	_, err = s.fenced(ctx, op, b.ID, createScript, k.ops, keys, args...)
	if err == nil && b.ReminderOf != "" {
		// The original lists its reminders: its own slot, so a step of its
		// own after the create (a crash between loses the link back; the
		// reminder keeps its reminderOf).
		err = s.linkReminder(ctx, b.ReminderOf, b.ID)
	}
	if errors.Is(err, ErrNotApplied) {
		// Certainly not written by this call: unlist it, unless an
		// earlier call under the same id (an Idempotency-Key's, whose
		// claim keeps others out while this one runs) wrote it. What
		// this leaves on failure the lists skip and the registries'
		// readers forget.
		if exists, xerr := s.BroadcastExists(ctx, b.ID); xerr == nil && !exists {
			_ = s.unregister(ctx, b.ID, s.Key(keyAll), s.tenantListKey(b.TenantID), register)
		}
	}
	return err
}

// section appends items to args as one section of a script's ARGV: their
// number, then them.
func section(args []any, items ...any) []any {
	return append(append(args, len(items)), items...)
}
