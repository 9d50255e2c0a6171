package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A claim (a recipient sending, an op record updating) carries its owner
// and a lease. The owner's worker renews the lease while it works (the
// queue's heartbeat), so the lease can be short: a claim outlives a dead
// owner by at most one lease, and a live owner's is never taken over.

// renewClaimScript extends the lease of a claim its owner still holds.
// KEYS[1]: the records hash (recipients, or an op's records). ARGV: user,
// the claimed state (sending, updating), owner, now (ms), lease (ms).
// Returns 1 if renewed, 0 if the claim is not owner's any more (settled,
// released, or taken over). A lease that ran out with nobody taking over
// is renewed: the owner still holds the claim.
var renewClaimScript = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local r = cjson.decode(raw)
if r.s ~= ARGV[2] or r.o ~= ARGV[3] then return 0 end
r.l = tonumber(ARGV[4]) + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(r))
return 1
`)

// RenewClaim extends owner's claim on a recipient (see Change.Owner) to
// lease from now. False if owner holds it no more.
func (s *Store) RenewClaim(ctx context.Context, id, user, owner string, lease time.Duration) (bool, error) {
	n, err := s.pipe.Run(ctx, renewClaimScript, []string{s.keysOf(id).rec}, user, string(broadcast.StateSending), owner, s.nowMS(), lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew the claim on %s of %s: %w", user, id, err)
	}
	return n == 1, nil
}

// RenewChangeClaim extends owner's claim on a recipient's call of op (see
// ClaimChange) to lease from now. False if owner holds it no more.
func (s *Store) RenewChangeClaim(ctx context.Context, id string, op broadcast.Stage, user, owner string, lease time.Duration) (bool, error) {
	n, err := s.pipe.Run(ctx, renewClaimScript, []string{s.changeKeys(id, op).op}, user, "updating", owner, s.nowMS(), lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew the %s claim on %s of %s: %w", op, user, id, err)
	}
	return n == 1, nil
}

// A lease on a key is one owner's right to do a piece of work that must
// have one doer at a time (a tenant's directory sync, a broadcast's
// expansion): the key holds the owner's token and expires unless renewed,
// so an owner that dies is taken over one lease later. It is taken with SET
// NX, renewed and released only by its owner; writes made under a lease
// check, in their script, that their writer still holds it.

var renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// TakeLease takes the lease key for owner for ttl, if nobody holds it.
func (s *Store) TakeLease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, key, owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", key, err)
	}
	return ok, nil
}

// ErrLeaseLost is returned when a lease is no longer its owner's: another
// owner took over (or the lease ran out). Writes refused with it must stop.
var ErrLeaseLost = errors.New("lease lost")

// RenewLease extends owner's lease by ttl; ErrLeaseLost if it is not
// owner's any more.
func (s *Store) RenewLease(ctx context.Context, key, owner string, ttl time.Duration) error {
	n, err := renewLeaseScript.Run(ctx, s.rdb, []string{key}, owner, strconv.FormatInt(ttl.Milliseconds(), 10)).Int()
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("renew lease %s: %w", key, ErrLeaseLost)
	}
	return nil
}

// ReleaseLease gives owner's lease up (nothing if it is not owner's).
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, []string{key}, owner).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	return nil
}
