package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A tenant's unreachable users: who the last broadcasts could not reach
// (blocked, disabled, uninstalled), and the same users by the time of that
// last outcome. Both share the hash tag {u:<tenant>}.

// unreachable is a user's entry as the scripts store it.
type unreachable struct {
	Reason    string `json:"r"`
	Broadcast string `json:"b"`
	At        int64  `json:"at"`
	Times     int    `json:"n"`
}

// noteUnreachableScript records that broadcast ARGV[3] could not reach
// user ARGV[1] (reason ARGV[2]) at ARGV[4] (ms). Times counts broadcasts,
// so a retried record of the same outcome counts once; an older outcome
// than the one kept leaves reason, broadcast and time as they are.
var noteUnreachableScript = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local u = {n = 0, at = 0}
if raw then u = cjson.decode(raw) end
local at = tonumber(ARGV[4])
if u.b ~= ARGV[3] then u.n = (tonumber(u.n) or 0) + 1 end
if at >= (tonumber(u.at) or 0) then
  u.r, u.b, u.at = ARGV[2], ARGV[3], at
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(u))
redis.call('ZADD', KEYS[2], u.at, ARGV[1])
return 1
`)

// reachedScript forgets user ARGV[1], reached at ARGV[2] (ms), unless the
// entry kept is of a later outcome.
var reachedScript = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if (tonumber(cjson.decode(raw).at) or 0) > tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// noteReach keeps the tenant's unreachable report in step with a
// recipient's outcome, where the outcome is recorded (Transition): a user
// blocked, disabled or uninstalled is noted, a user sent to is forgotten.
// It is a separate call from the transition's script, whose keys are the
// broadcast's slot; both are idempotent, so a retried transition redoes it.
func (s *Store) noteReach(ctx context.Context, tenant, id string, rec broadcast.Recipient) error {
	keys := []string{s.unreachableKey(tenant), s.unreachableAtKey(tenant)}
	at := rec.UpdatedAt.UnixMilli()
	switch {
	case rec.State == broadcast.StateSent:
		if err := s.pipe.Run(ctx, reachedScript, keys, rec.UserID, at).Err(); err != nil {
			return fmt.Errorf("unreachable report of %s: forget %s: %w", tenant, rec.UserID, err)
		}
	case (rec.State == broadcast.StateBlocked || rec.State == broadcast.StateFailed) && rec.Reason.Unreachable():
		if err := noteUnreachableScript.Run(ctx, s.rdb, keys, rec.UserID, string(rec.Reason), id, at).Err(); err != nil {
			return fmt.Errorf("unreachable report of %s: note %s: %w", tenant, rec.UserID, err)
		}
	}
	return nil
}

// UnreachableUsers returns a page of the tenant's unreachable users, the
// latest outcome first, with their names from the directory cache (empty
// when not cached), and the cursor of the next page ("" after the last).
func (s *Store) UnreachableUsers(ctx context.Context, tenant, cursor string, limit int) ([]broadcast.UnreachableUser, string, error) {
	hi := "+inf"
	var after *pos
	if cursor != "" {
		p, err := decodePos(cursor)
		if err != nil {
			return nil, "", err
		}
		after, hi = &p, strconv.FormatInt(p.score, 10)
	}
	var users []string
	var offset int64
	next := ""
	for len(users) < limit {
		batch := int64(limit + 1)
		zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: s.unreachableAtKey(tenant), Start: hi, Stop: "-inf",
			ByScore: true, Rev: true, Offset: offset, Count: batch}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list unreachable users of %s: %w", tenant, err)
		}
		offset += int64(len(zs))
		for i, z := range zs {
			p := pos{score: int64(z.Score), id: z.Member.(string)}
			if after != nil && p.score == after.score && p.id >= after.id {
				continue
			}
			users = append(users, p.id)
			if len(users) == limit {
				if i+1 < len(zs) {
					next = p.encode()
				}
				break
			}
		}
		if int64(len(zs)) < batch {
			break
		}
	}
	if len(users) == 0 {
		return nil, "", nil
	}
	var raws []any
	var profiles map[string]broadcast.Profile
	raws, err := s.rdb.HMGet(ctx, s.unreachableKey(tenant), users...).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read unreachable users of %s: %w", tenant, err)
	}
	if profiles, err = s.Profiles(ctx, tenant, users); err != nil {
		return nil, "", err
	}
	out := make([]broadcast.UnreachableUser, 0, len(users))
	for i, v := range raws {
		raw, ok := v.(string)
		if !ok {
			continue // reached between the two reads
		}
		var u unreachable
		if err := json.Unmarshal([]byte(raw), &u); err != nil {
			return nil, "", fmt.Errorf("decode unreachable user %s of %s: %w", users[i], tenant, err)
		}
		p := profiles[users[i]]
		out = append(out, broadcast.UnreachableUser{UserID: users[i], UserPrincipalName: p.UserPrincipalName, DisplayName: p.DisplayName,
			Reason: broadcast.Reason(u.Reason), BroadcastID: u.Broadcast, At: time.UnixMilli(u.At).UTC(), Times: u.Times})
	}
	return out, next, nil
}
