package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// failScript ends the expansion of a broadcast that cannot be expanded (a
// Graph refusal, or a Graph failure that lasted too long): it records the
// error, unregisters the expansion and stops the broadcast as a cancel
// does. Recipients recorded before (only a broadcast expanded from
// Graph's /users page by page has any) that are not final are swept to
// canceled, from broadcasts:canceling, and complete_if_done then ends it
// failed rather than canceled (the error tells them apart); with none, it
// is failed at once. ARGV: now (ms), error. KEYS as every recipient
// script. Returns the status after, or before when it was not expanding
// (then nothing changes), or "" without a record. The registries are
// FailExpansion's (registry.go).
var failScript = redis.NewScript(luaPrelude + `
local now, msg = tonumber(ARGV[1]), ARGV[2]
local st = redis.call('HGET', KEYS[3], 'status')
if not st then return '' end
if st ~= 'expanding' then return st end
redis.call('HSET', KEYS[3], 'status', 'canceling', 'error', msg, 'expanded', '1', 'cursor', '')
complete_if_done(now)
return redis.call('HGET', KEYS[3], 'status')
`)

// FailExpansion ends a broadcast that is expanding as failed with msg,
// and returns its status after: failed, or canceling while recipients
// recorded before are swept (then SweepCanceled ends it failed). A
// broadcast that is no longer expanding (canceled meanwhile, or failed by
// another dispatcher) is left as it is, and its status returned.
func (s *Store) FailExpansion(ctx context.Context, id, msg string) (broadcast.Status, error) {
	// Registered for the sweep first, unregistered from the expansions
	// after (registry.go).
	if err := s.beforeCancel(ctx, id); err != nil {
		return "", fmt.Errorf("fail the expansion of %s: %w", id, err)
	}
	st, err := failScript.Run(ctx, s.rdb, s.keysOf(id).script(), s.nowMS(), clipErr(msg)).Text()
	if err != nil {
		return "", fmt.Errorf("fail the expansion of %s: %w", id, err)
	}
	if st == "" {
		return "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	if err := s.unregister(ctx, id, s.Key(keyExpanding)); err != nil {
		return "", fmt.Errorf("fail the expansion of %s: %w", id, err)
	}
	s.afterCancel(ctx, id, broadcast.Status(st))
	return broadcast.Status(st), nil
}

// stallScript records a failed expansion attempt at position ARGV[1] and
// returns when the first failure at that position was (ms): a failure at
// a new position (the expansion got further) starts again. ARGV: position,
// now (ms). KEYS: meta. Returns -1 without a record.
var stallScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local m = redis.call('HMGET', KEYS[1], 'stall_pos', 'stall_since')
if m[1] == ARGV[1] and m[2] then return tonumber(m[2]) end
redis.call('HSET', KEYS[1], 'stall_pos', ARGV[1], 'stall_since', ARGV[2])
return tonumber(ARGV[2])
`)

// ExpansionStalled records that the broadcast's expansion failed at
// position (where its resolution and its cursor stood), and returns since
// when it has been failing there: every dispatcher that tries it adds to
// the same record.
func (s *Store) ExpansionStalled(ctx context.Context, id, position string) (time.Time, error) {
	ms, err := stallScript.Run(ctx, s.rdb, []string{s.keysOf(id).meta}, position, strconv.FormatInt(s.nowMS(), 10)).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("record the stalled expansion of %s: %w", id, err)
	}
	if ms < 0 {
		return time.Time{}, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	return time.UnixMilli(ms).UTC(), nil
}
