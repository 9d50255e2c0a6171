package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered: a
// day, longer than any HR system's retries of one request, short enough
// that keys do not pile up.
const DefaultIdempotencyTTL = 24 * time.Hour

// IdempotencyClaim is what a tenant's Idempotency-Key holds: the broadcast
// it names and the hash of the request that claimed it.
type IdempotencyClaim struct {
	BroadcastID string
	RequestHash string
	CreatedAt   time.Time // when the key was first claimed
	// Age is the time since the last claim (the first, or a take-over), by
	// Redis's clock: how long the create holding the key has been at it.
	Age time.Duration
}

// IdempotencyKey is a create's Idempotency-Key with its scope: the tenant
// and, within it, the actor (the API key's name, the broadcast's
// createdBy) that sent it. Two tenants, or two API keys of one tenant, may
// use the same key without sharing it: a key never names another author's
// broadcast.
type IdempotencyKey struct {
	Tenant, Actor, Key string
}

// redisNowMS is Redis's clock in ms, so that dispatchers on hosts whose
// clocks differ agree on a claim's age.
const redisNowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// claimIdemScript claims KEYS[1] for broadcast ARGV[1] with request hash
// ARGV[2] and TTL ARGV[3] ms, unless it is claimed already. Returns {1 if
// claimed now, id, hash, created, claimed, now}. It is fenced, its record
// in the key itself: a claim answered with an error is not made later.
var claimIdemScript = fencedScript(redisNowMS + `
local function apply()
  if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], 'hash', ARGV[2], 'created', now, 'claimed', now)
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, ARGV[1], ARGV[2], now, now, now}
  end
  local v = redis.call('HMGET', KEYS[1], 'id', 'hash', 'created', 'claimed')
  return {0, v[1], v[2], tonumber(v[3]) or 0, tonumber(v[4]) or 0, now}
end
`)

// takeOverIdemScript claims KEYS[1] again for its broadcast ARGV[1] if its
// last claim is older than ARGV[2] ms. Returns 1 if it did.
var takeOverIdemScript = redis.NewScript(redisNowMS + `
local v = redis.call('HMGET', KEYS[1], 'id', 'claimed')
if v[1] ~= ARGV[1] or (tonumber(v[2]) or 0) > now - tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'claimed', now)
return 1
`)

// releaseIdemScript deletes KEYS[1] if it still names broadcast ARGV[1].
var releaseIdemScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ClaimIdempotencyKey claims k for broadcast id and the request's hash,
// atomically: of several creates with one key, exactly one gets fresh =
// true and writes the broadcast; the others get the claim that won. The
// key expires ttl after the first claim. The claim is fenced (fence.go):
// ErrNotApplied means it was not made and never will be.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey, id, hash string, ttl time.Duration) (c IdempotencyClaim, fresh bool, err error) {
	rk := s.idemKey(k)
	out, err := s.fenced(ctx, "create", id, claimIdemScript, rk, []string{rk}, id, hash, ttl.Milliseconds())
	if err != nil {
		return c, false, fmt.Errorf("claim idempotency key of tenant %s: %w", k.Tenant, err)
	}
	res, _ := out.([]any)
	if len(res) != 6 {
		return c, false, fmt.Errorf("claim idempotency key of tenant %s: unexpected answer %v", k.Tenant, res)
	}
	c.BroadcastID, _ = res[1].(string)
	c.RequestHash, _ = res[2].(string)
	created, claimed, now := asInt(res[3]), asInt(res[4]), asInt(res[5])
	c.CreatedAt = time.UnixMilli(created).UTC()
	c.Age = time.Duration(now-claimed) * time.Millisecond
	return c, asInt(res[0]) == 1, nil
}

// TakeOverIdempotencyKey claims k again for the broadcast it names, if
// its last claim is older than grace: the create that claimed it stopped
// before writing the broadcast. Of several callers at most one gets true.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, k IdempotencyKey, id string, grace time.Duration) (bool, error) {
	n, err := takeOverIdemScript.Run(ctx, s.rdb, []string{s.idemKey(k)}, id, grace.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("take over idempotency key of tenant %s: %w", k.Tenant, err)
	}
	return n == 1, nil
}

// ReleaseIdempotencyKey forgets k if it still names broadcast id: the
// create that claimed it failed, and a retry may create afresh.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, k IdempotencyKey, id string) error {
	if err := releaseIdemScript.Run(ctx, s.rdb, []string{s.idemKey(k)}, id).Err(); err != nil {
		return fmt.Errorf("release idempotency key of tenant %s: %w", k.Tenant, err)
	}
	return nil
}

// BroadcastExists reports whether a broadcast's record has been written.
func (s *Store) BroadcastExists(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.keysOf(id).meta).Result()
	if err != nil {
		return false, fmt.Errorf("look up broadcast %s: %w", id, err)
	}
	return n == 1, nil
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
