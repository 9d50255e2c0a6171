package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// cancelLua defines cancel(now), which moves a broadcast that has not
// ended to canceling, for the sweep; a scheduled one, which has no
// recipient yet, it ends canceled at once, and so one pending approval.
// KEYS as every recipient script. Returns the status before, or "" when
// the broadcast has no record. It and the start of a scheduled broadcast
// (startScheduledScript), and an approver's decision (decideScript), each
// change the status in one script, so one of them wins a race and the
// other sees its result. The registries are the caller's (beforeCancel,
// afterCancel).
var cancelLua = `
local function cancel(now)
  local st = redis.call('HGET', KEYS[3], 'status')
  if not st then return '' end
  if st == 'scheduled' or st == 'pending_approval' then
    redis.call('HSET', KEYS[3], 'status', 'canceled', 'canceled_at', now, 'completed_at', now)
  elseif st == 'expanding' or st == 'sending' then
    redis.call('HSET', KEYS[3], 'status', 'canceling', 'canceled_at', now)
    -- nothing left to do if every known recipient is already final
    complete_if_done(now)
  end
  return st
end
`

// cancelScript runs cancel(). ARGV: now (ms), id (then the fence's).
var cancelScript = fencedScript(luaPrelude + cancelLua + `
local function apply() return cancel(tonumber(ARGV[1])) end
`)

// beforeCancel registers the broadcast for the sweep before a script that
// may make it canceling (registry.go): the sweep forgets the entry if the
// script never made it so.
func (s *Store) beforeCancel(ctx context.Context, id string) error {
	return s.register(ctx, id, registration{s.Key(keyCanceling), s.nowMS()})
}

// afterCancel unregisters a broadcast that a cancel found with status was
// from the registries it left: one that was scheduled or pending approval
// is canceled, and one ended already needs no sweep. Its errors are left
// to the registries' readers, which settle such entries.
func (s *Store) afterCancel(ctx context.Context, id string, was broadcast.Status) {
	switch {
	case was == broadcast.StatusScheduled || was == broadcast.StatusPendingApproval:
		_ = s.unregister(ctx, id, s.Key(keyScheduled), s.Key(keyPendingApproval), s.Key(keyCanceling))
	case was.Ended():
		_ = s.unregister(ctx, id, s.Key(keyCanceling))
	}
}

// Cancel stops a broadcast: from now on no recipient is added to it and no
// recipient of it is claimed for a send; a release or hand-off ends the
// recipient canceled (see the transition script). It returns the status
// the broadcast had: expanding or sending when this call canceled it,
// canceling or canceled when an earlier call did, completed when it was too
// late; scheduled when this call canceled it before it started (it is
// canceled now). The recipients already waiting are moved by SweepCanceled.
// It is fenced (fence.go): an error is ErrNotApplied, a
// *broadcast.OutcomeUnknownError, or a failure before anything was sent.
func (s *Store) Cancel(ctx context.Context, id string) (broadcast.Status, error) {
	if err := s.beforeCancel(ctx, id); err != nil {
		return "", err
	}
	res, err := s.fenced(ctx, "cancel", id, cancelScript, s.keysOf(id).ops, s.keysOf(id).script(), s.nowMS(), id)
	if err != nil {
		return "", err
	}
	st, _ := res.(string)
	if st == "" {
		return "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	s.afterCancel(ctx, id, broadcast.Status(st))
	return broadcast.Status(st), nil
}

// sweepScript moves up to ARGV[2] recipients of a canceling broadcast that
// wait (pending, installing) or whose claim has run out (sending, the
// sender died) to canceled. ARGV: now (ms), n. Returns {moved, recipients
// not final yet, status}.
var sweepScript = redis.NewScript(luaPrelude + `
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local st = redis.call('HGET', KEYS[3], 'status')
if st ~= 'canceling' then return {0, 0, st or ''} end
local moved = 0
local function sweep(state, expired_only)
  if moved >= n then return end
  local users = redis.call('ZRANGE', idx[state], 0, n - moved - 1)
  for _, user in ipairs(users) do
    local raw = redis.call('HGET', KEYS[1], user)
    if raw then
      local r = cjson.decode(raw)
      if r.s == state and not (expired_only and (tonumber(r.l) or 0) > now) then
        r.s, r.t, r.o, r.l = 'canceled', now, nil, nil
        redis.call('HSET', KEYS[1], user, cjson.encode(r))
        move(user, state, 'canceled')
        moved = moved + 1
      end
    end
  end
end
sweep('pending', false)
sweep('installing', false)
sweep('sending', true)
complete_if_done(now)
local c = redis.call('HMGET', KEYS[2], 'total', unpack(finals))
local left = tonumber(c[1] or 0) or 0
for i = 2, #c do left = left - (tonumber(c[i] or 0) or 0) end
return {moved, left, redis.call('HGET', KEYS[3], 'status')}
`)

// Sweep is what one SweepCanceled call did.
type Sweep struct {
	Moved  int              // recipients moved to canceled
	Left   int64            // recipients not final yet
	Status broadcast.Status // the broadcast's status after the sweep
}

// SweepCanceled moves up to n recipients of a canceling broadcast that are
// not being sent to canceled: pending and installing ones, and sending ones
// whose claim has run out. A sending recipient with a live claim is left
// to its sender, whose outcome is recorded (sent) or turned into canceled.
// The broadcast becomes canceled when no recipient is left.
func (s *Store) SweepCanceled(ctx context.Context, id string, n int) (Sweep, error) {
	res, err := sweepScript.Run(ctx, s.rdb, s.keysOf(id).script(), s.nowMS(), n).Slice()
	if err != nil {
		return Sweep{}, fmt.Errorf("sweep canceled %s: %w", id, err)
	}
	if len(res) != 3 {
		return Sweep{}, fmt.Errorf("sweep canceled %s: unexpected answer %v", id, res)
	}
	moved, _ := res[0].(int64)
	left, _ := res[1].(int64)
	st, _ := res[2].(string)
	sw := Sweep{Moved: int(moved), Left: left, Status: broadcast.Status(st)}
	if sw.Status != broadcast.StatusCanceling {
		if err := s.rdb.ZRem(ctx, s.Key(keyCanceling), id).Err(); err != nil {
			return sw, fmt.Errorf("unregister canceled %s: %w", id, err)
		}
	}
	return sw, nil
}

// Canceling lists the broadcasts whose cancel has not finished sweeping.
func (s *Store) Canceling(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.Key(keyCanceling), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list canceling broadcasts: %w", err)
	}
	return ids, nil
}
