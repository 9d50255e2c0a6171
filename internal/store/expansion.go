package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// One dispatcher at a time expands a broadcast: the one holding its
// expansion lease ({b:<id>}:expander, see lease.go). Every position the
// expansion saves (its resolution step and cursor, its expansion cursor) is
// written only while the lease is held, in the script that checks it, and
// the expansion cursor only ever moves forwards. So a dispatcher that lost
// the lease (paused past it, cut off from Redis) cannot undo its
// successor's progress: its next save fails with ErrLeaseLost and it stops.

// ErrCursorBackwards is returned for an expansion cursor before the one
// saved: the writer is not where the expansion stands.
var ErrCursorBackwards = errors.New("expansion cursor moves backwards")

// TakeExpansion takes the broadcast's expansion lease for holder: false if
// another dispatcher holds it.
func (s *Store) TakeExpansion(ctx context.Context, id, holder string, ttl time.Duration) (bool, error) {
	return s.TakeLease(ctx, s.keysOf(id).expander, holder, ttl)
}

// RenewExpansion extends holder's expansion lease: ErrLeaseLost if it is
// not holder's any more.
func (s *Store) RenewExpansion(ctx context.Context, id, holder string, ttl time.Duration) error {
	return s.RenewLease(ctx, s.keysOf(id).expander, holder, ttl)
}

// ReleaseExpansion ends holder's expansion lease, so that another
// dispatcher may take the expansion over at once.
func (s *Store) ReleaseExpansion(ctx context.Context, id, holder string) error {
	return s.ReleaseLease(ctx, s.keysOf(id).expander, holder)
}

// ExpansionCursor returns where expansion stopped ("" = at the start) and
// whether the broadcast still exists.
func (s *Store) ExpansionCursor(ctx context.Context, id string) (string, error) {
	vals, err := s.rdb.HMGet(ctx, s.keysOf(id).meta, "id", "cursor").Result()
	if err != nil {
		return "", fmt.Errorf("read cursor of %s: %w", id, err)
	}
	if vals[0] == nil {
		return "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	c, _ := vals[1].(string)
	return c, nil
}

// saveCursorScript saves the expansion cursor if the writer holds the
// lease and the cursor does not move backwards. A cursor is
// "<kind>:<member>": past the resolved audience's members up to <member>,
// which are ordered as ZRANGEBYLEX orders them; cursors compare by the
// rank of their member (Lua's string comparison follows the server's
// locale). KEYS: meta, aud, expander. ARGV: holder, cursor. Returns 1
// when saved, -1 when the lease is not holder's, -2 when the cursor is
// before the saved one.
var saveCursorScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local old = redis.call('HGET', KEYS[1], 'cursor')
if old and old ~= '' then
  local function rank(c)
    local m = string.match(c, '^[^:]*:(.*)$') or c
    return redis.call('ZLEXCOUNT', KEYS[2], '-', '[' .. m)
  end
  if rank(ARGV[2]) < rank(old) then return -2 end
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
return 1`)

// SaveExpansionCursor records that expansion has published everything
// before cursor: ErrLeaseLost if holder does not hold the expansion lease,
// ErrCursorBackwards if cursor is before the one saved.
func (s *Store) SaveExpansionCursor(ctx context.Context, id, holder, cursor string) error {
	k := s.keysOf(id)
	n, err := saveCursorScript.Run(ctx, s.rdb, []string{k.meta, s.audienceKeysOf(id).aud, k.expander}, holder, cursor).Int()
	if err != nil {
		return fmt.Errorf("save cursor of %s: %w", id, err)
	}
	return leaseAnswer(n, "save cursor of "+id)
}

// saveResolutionScript saves where resolution stands if the writer holds
// the lease. KEYS: meta, expander. ARGV: holder, step, cursor. Returns 1
// when saved, -1 when the lease is not holder's.
var saveResolutionScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'resolve_step', ARGV[2], 'resolve_cursor', ARGV[3])
return 1`)

// SaveResolution records that resolution has done everything before
// cursor of step: ErrLeaseLost if holder does not hold the expansion lease.
func (s *Store) SaveResolution(ctx context.Context, id, holder, step, cursor string) error {
	k := s.keysOf(id)
	n, err := saveResolutionScript.Run(ctx, s.rdb, []string{k.meta, k.expander}, holder, step, cursor).Int()
	if err != nil {
		return fmt.Errorf("save resolution of %s: %w", id, err)
	}
	return leaseAnswer(n, "save resolution of "+id)
}

func leaseAnswer(n int, what string) error {
	switch n {
	case -1:
		return fmt.Errorf("%s: %w", what, ErrLeaseLost)
	case -2:
		return fmt.Errorf("%s: %w", what, ErrCursorBackwards)
	}
	return nil
}
