package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// An audience is resolved into a set of recipients before any job is
// published: its sources are read a page at a time, and each page's users
// are added to the set unless excluded. Everything lives in Redis, under
// the broadcast's hash tag, so memory stays flat whatever the audience's
// size and a dispatcher that dies resumes at the step and cursor saved:
//
//	{b:<id>}:users          list: the audience's userIds, in request order
//	{b:<id>}:in:upns        list: its upns
//	{b:<id>}:in:xids        list: exclude.userIds
//	{b:<id>}:in:xupns       list: exclude.upns
//	{b:<id>}:excl           set: the ids excluded (resolved first)
//	{b:<id>}:aud            sorted set (score 0, by id): the resolved recipients, expanded from
//	{b:<id>}:unres:upns     sorted set (score = position in the request): UPNs the directory does not know
//	{b:<id>}:unres:ids      sorted set: ids it does not know
//	{b:<id>}:unres:groups   sorted set: group ids it does not know
//
// and in the meta hash: audience_spec (allUsers,
// includeGuests, the group ids), resolve_step and resolve_cursor (where
// resolution stands), audience_size and unres_* counts once it is done.

// Audience input lists, for AudienceInput.
const (
	InputUserIDs        = "userIds"
	InputUPNs           = "upns"
	InputExcludeUserIDs = "exclude.userIds"
	InputExcludeUPNs    = "exclude.upns"
)

// AudienceInput returns up to n entries of one of the request's lists from
// offset.
func (s *Store) AudienceInput(ctx context.Context, id, list string, offset, n int64) ([]string, error) {
	a := s.audienceKeysOf(id)
	key := map[string]string{InputUserIDs: s.keysOf(id).users, InputUPNs: a.upns, InputExcludeUserIDs: a.xids, InputExcludeUPNs: a.xupns}[list]
	if key == "" {
		return nil, fmt.Errorf("unknown audience list %q", list)
	}
	vals, err := s.rdb.LRange(ctx, key, offset, offset+n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", list, id, err)
	}
	return vals, nil
}

// Resolution is where a broadcast's audience resolution stands.
type Resolution struct {
	Done   bool
	Step   string // "" before the first step
	Cursor string // within the step
}

// Resolution returns where the broadcast's audience resolution stands.
func (s *Store) Resolution(ctx context.Context, id string) (Resolution, error) {
	vals, err := s.rdb.HMGet(ctx, s.keysOf(id).meta, "id", "resolve_step", "resolve_cursor", "audience_size").Result()
	if err != nil {
		return Resolution{}, fmt.Errorf("read resolution of %s: %w", id, err)
	}
	if vals[0] == nil {
		return Resolution{}, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	return Resolution{Step: str(vals[1]), Cursor: str(vals[2]), Done: vals[3] != nil}, nil
}

// Exclude adds ids to the broadcast's excluded users.
func (s *Store) Exclude(ctx context.Context, id string, users []string) error {
	if len(users) == 0 {
		return nil
	}
	vals := make([]any, len(users))
	for i, u := range users {
		vals[i] = u
	}
	if err := s.rdb.SAdd(ctx, s.audienceKeysOf(id).excl, vals...).Err(); err != nil {
		return fmt.Errorf("exclude %d users of %s: %w", len(users), id, err)
	}
	return nil
}

// addAudienceScript adds the users not excluded to the audience, unless
// the broadcast is being canceled or failed (-1). KEYS: aud, excl, meta.
var addAudienceScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[3], 'status')
if st == 'canceling' or st == 'canceled' or st == 'failed' then return -1 end
local n = 0
for _, u in ipairs(ARGV) do
  if redis.call('SISMEMBER', KEYS[2], u) == 0 then n = n + redis.call('ZADD', KEYS[1], 0, u) end
end
return n`)

// AddAudience adds users to the broadcast's resolved audience, leaving out
// the excluded ones, and returns how many were new. ErrCanceled once the
// broadcast is being canceled or failed.
func (s *Store) AddAudience(ctx context.Context, id string, users []string) (int, error) {
	if len(users) == 0 {
		return 0, nil
	}
	a := s.audienceKeysOf(id)
	args := make([]any, len(users))
	for i, u := range users {
		args[i] = u
	}
	n, err := addAudienceScript.Run(ctx, s.rdb, []string{a.aud, a.excl, s.keysOf(id).meta}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("add %d users to the audience of %s: %w", len(users), id, err)
	}
	if n < 0 {
		return 0, ErrCanceled
	}
	return n, nil
}

// Unresolved kinds, for AddUnresolved.
const (
	UnresolvedUPN   = "upn"
	UnresolvedID    = "id"
	UnresolvedGroup = "group"
)

// AddUnresolved records names the directory does not know, each with its
// position in the request (the report lists them in request order).
func (s *Store) AddUnresolved(ctx context.Context, id, kind string, names []string, positions []int64) error {
	if len(names) == 0 {
		return nil
	}
	a := s.audienceKeysOf(id)
	key := map[string]string{UnresolvedUPN: a.unresUPNs, UnresolvedID: a.unresIDs, UnresolvedGroup: a.unresGroups}[kind]
	zs := make([]redis.Z, len(names))
	for i, n := range names {
		zs[i] = redis.Z{Score: float64(positions[i]), Member: n}
	}
	if err := s.rdb.ZAddNX(ctx, key, zs...).Err(); err != nil {
		return fmt.Errorf("record %d unresolved of %s: %w", len(names), id, err)
	}
	return nil
}

// FinishResolution records the resolved audience's size and the
// unresolved counts, and returns the size.
func (s *Store) FinishResolution(ctx context.Context, id string) (int64, error) {
	a := s.audienceKeysOf(id)
	var size, upns, ids, groups *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		size = p.ZCard(ctx, a.aud)
		upns = p.ZCard(ctx, a.unresUPNs)
		ids = p.ZCard(ctx, a.unresIDs)
		groups = p.ZCard(ctx, a.unresGroups)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count the audience of %s: %w", id, err)
	}
	if err := s.rdb.HSet(ctx, s.keysOf(id).meta, "audience_size", size.Val(), "unres_upns", upns.Val(),
		"unres_ids", ids.Val(), "unres_groups", groups.Val(), "resolve_step", "done", "resolve_cursor", "").Err(); err != nil {
		return 0, fmt.Errorf("record the audience of %s: %w", id, err)
	}
	return size.Val(), nil
}

// AudienceMembers returns up to n recipients of the resolved audience
// after the id after, in id order.
func (s *Store) AudienceMembers(ctx context.Context, id, after string, n int64) ([]string, error) {
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	ids, err := s.rdb.ZRangeByLex(ctx, s.audienceKeysOf(id).aud, &redis.ZRangeBy{Min: lo, Max: "+", Count: n}).Result()
	if err != nil {
		return nil, fmt.Errorf("read the audience of %s: %w", id, err)
	}
	return ids, nil
}

// readResolution fills in the broadcast's audience size and unresolved
// report from its meta m.
func (s *Store) readResolution(ctx context.Context, b *broadcast.Broadcast, m map[string]string) error {
	v, ok := m["audience_size"]
	if !ok {
		return nil
	}
	size, _ := strconv.ParseInt(v, 10, 64)
	b.AudienceSize = &size
	count := func(f string) int64 { n, _ := strconv.ParseInt(m[f], 10, 64); return n }
	nu, ni, ng := count("unres_upns"), count("unres_ids"), count("unres_groups")
	if nu+ni+ng == 0 {
		return nil
	}
	a := s.audienceKeysOf(b.ID)
	u := &broadcast.Unresolved{Count: nu + ni + ng}
	for _, l := range []struct {
		n   int64
		key string
		to  *[]string
	}{{nu, a.unresUPNs, &u.UPNs}, {ni, a.unresIDs, &u.IDs}, {ng, a.unresGroups, &u.GroupIDs}} {
		if l.n == 0 {
			continue
		}
		names, err := s.rdb.ZRange(ctx, l.key, 0, broadcast.MaxUnresolvedListed-1).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("read unresolved of %s: %w", b.ID, err)
		}
		*l.to = names
	}
	b.Unresolved = u
	return nil
}
