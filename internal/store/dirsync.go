package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The synced directory of a tenant, beside the profile cache of
// directory.go, all under the hash tag {d:<tenant>}:
//
//	{d:<tenant>}:members  sorted set (score 0, by id): enabled members, what an allUsers audience lists
//	{d:<tenant>}:guests   sorted set (score 0, by id): enabled guests, listed with includeGuests
//	{d:<tenant>}:sync     hash: delta (the deltaLink of the last round), next (the link of the round in
//	                      progress), full ("1" while a full round runs), synced_at (ms)
//	{d:<tenant>}:seen     set: ids seen by the full round in progress, to drop the others at its end
//	{d:<tenant>}:lease    string: the owner of the tenant's sync, with a TTL

// saveDirScript writes profiles and removals into the directory in one
// step: a changed user principal name loses its old mapping, and the user
// moves to the listing set its type and account allow (none when the
// account is disabled).
// KEYS: users, upn, members, guests, seen. ARGV: seen flag, number of
// puts, then per put id, profile JSON, lowercased UPN, set ("m", "g" or
// "-"); then the ids to remove.
var saveDirScript = redis.NewScript(`
local seen = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local function forget_upn(id)
  local old = redis.call('HGET', KEYS[1], id)
  if not old then return end
  local ok, p = pcall(cjson.decode, old)
  if ok and type(p.userPrincipalName) == 'string' then
    local u = string.lower(p.userPrincipalName)
    if redis.call('HGET', KEYS[2], u) == id then redis.call('HDEL', KEYS[2], u) end
  end
end
local i = 3
for _ = 1, n do
  local id, raw, upn, set = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  i = i + 4
  forget_upn(id)
  redis.call('HSET', KEYS[1], id, raw)
  if upn ~= '' then redis.call('HSET', KEYS[2], upn, id) end
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  if set == 'm' then redis.call('ZADD', KEYS[3], 0, id) elseif set == 'g' then redis.call('ZADD', KEYS[4], 0, id) end
  if seen then redis.call('SADD', KEYS[5], id) end
end
for j = i, #ARGV do
  local id = ARGV[j]
  forget_upn(id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('SREM', KEYS[5], id)
end
return 0
`)

// SaveDirectory adds or replaces profiles and drops removed users in the
// tenant's directory, keeping the UPN index and the listing sets in step.
// seen marks the saved users as seen by the full round in progress.
func (s *Store) SaveDirectory(ctx context.Context, tenant string, ps []broadcast.Profile, removed []string, seen bool) error {
	const chunk = 500 // bounds one script's run and arguments
	for len(ps) > 0 || len(removed) > 0 {
		args := []any{"0", 0}
		if seen {
			args[0] = "1"
		}
		np := min(chunk, len(ps))
		for _, p := range ps[:np] {
			raw, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode profile of %s: %w", p.ID, err)
			}
			set := "-"
			switch {
			case p.AccountEnabled != nil && !*p.AccountEnabled:
			case p.Guest():
				set = "g"
			default:
				set = "m"
			}
			args = append(args, p.ID, raw, strings.ToLower(p.UserPrincipalName), set)
		}
		args[1] = np
		ps = ps[np:]
		nr := min(chunk-np, len(removed))
		for _, id := range removed[:nr] {
			args = append(args, id)
		}
		removed = removed[nr:]
		if err := saveDirScript.Run(ctx, s.rdb, s.dirKeys(tenant), args...).Err(); err != nil {
			return fmt.Errorf("save directory of %s: %w", tenant, err)
		}
	}
	return nil
}

// SyncState is where a tenant's directory sync stands.
type SyncState struct {
	DeltaLink string    // the last finished round's deltaLink: the next round starts there
	NextLink  string    // the link of the round in progress ("" if none)
	Full      bool      // the round in progress lists every user
	SyncedAt  time.Time // when the last round finished (zero: never)
}

// DirectorySync returns the tenant's sync state.
func (s *Store) DirectorySync(ctx context.Context, tenant string) (SyncState, error) {
	m, err := s.rdb.HGetAll(ctx, s.dirSyncKey(tenant)).Result()
	if err != nil {
		return SyncState{}, fmt.Errorf("read directory sync of %s: %w", tenant, err)
	}
	st := SyncState{DeltaLink: m["delta"], NextLink: m["next"], Full: m["full"] == "1"}
	if v := m["synced_at"]; v != "" {
		st.SyncedAt = msTime(v)
	}
	return st, nil
}

// StartFullSync begins a full round: the deltaLink is dropped and the
// seen set emptied.
func (s *Store) StartFullSync(ctx context.Context, tenant string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.dirSeenKey(tenant))
		p.HSet(ctx, s.dirSyncKey(tenant), "delta", "", "next", "", "full", "1")
		return nil
	})
	if err != nil {
		return fmt.Errorf("start full sync of %s: %w", tenant, err)
	}
	return nil
}

// SaveSyncLink records the link of the round's next page.
func (s *Store) SaveSyncLink(ctx context.Context, tenant, next string) error {
	if err := s.rdb.HSet(ctx, s.dirSyncKey(tenant), "next", next).Err(); err != nil {
		return fmt.Errorf("save sync link of %s: %w", tenant, err)
	}
	return nil
}

// FinishSync records a finished round: its deltaLink and the time.
func (s *Store) FinishSync(ctx context.Context, tenant, deltaLink string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.dirSyncKey(tenant), "delta", deltaLink, "next", "", "full", "", "synced_at", s.nowMS())
		p.Del(ctx, s.dirSeenKey(tenant))
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish sync of %s: %w", tenant, err)
	}
	return nil
}

// SweepUnseen drops the cached users a full round did not see (deleted
// while no deltaLink could tell), a thousand at a time, and returns how
// many it dropped.
func (s *Store) SweepUnseen(ctx context.Context, tenant string) (int, error) {
	var cursor uint64
	dropped := 0
	for {
		kv, next, err := s.rdb.HScan(ctx, s.dirUsersKey(tenant), cursor, "", 1000).Result()
		if err != nil {
			return dropped, fmt.Errorf("scan directory of %s: %w", tenant, err)
		}
		ids := make([]any, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			ids = append(ids, kv[i])
		}
		if len(ids) > 0 {
			in, err := s.rdb.SMIsMember(ctx, s.dirSeenKey(tenant), ids...).Result()
			if err != nil {
				return dropped, fmt.Errorf("check seen users of %s: %w", tenant, err)
			}
			var gone []string
			for i, ok := range in {
				if !ok {
					gone = append(gone, ids[i].(string))
				}
			}
			if err := s.SaveDirectory(ctx, tenant, nil, gone, false); err != nil {
				return dropped, err
			}
			dropped += len(gone)
		}
		if next == 0 {
			return dropped, nil
		}
		cursor = next
	}
}

// DirectoryIDs returns up to n ids of the tenant's enabled members (or,
// with guests, enabled guests) after the id after, in id order.
func (s *Store) DirectoryIDs(ctx context.Context, tenant string, guests bool, after string, n int64) ([]string, error) {
	key := s.dirMembersKey(tenant)
	if guests {
		key = s.dirGuestsKey(tenant)
	}
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	ids, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lo, Max: "+", Count: n}).Result()
	if err != nil {
		return nil, fmt.Errorf("list directory of %s: %w", tenant, err)
	}
	return ids, nil
}

// DirectorySize returns the number of enabled members and guests cached.
func (s *Store) DirectorySize(ctx context.Context, tenant string) (members, guests int64, err error) {
	var m, g *redis.IntCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		m = p.ZCard(ctx, s.dirMembersKey(tenant))
		g = p.ZCard(ctx, s.dirGuestsKey(tenant))
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count directory of %s: %w", tenant, err)
	}
	return m.Val(), g.Val(), nil
}
