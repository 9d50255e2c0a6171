// Package wave keeps, in Redis, the zone waves of localTime broadcasts:
// a broadcast's resolved audience grouped by each recipient's time zone,
// and for each zone the instant its recipients get the message, its state
// and how far its expansion went. It also caches users' mailbox time zones
// beside the tenant's directory.
//
// Keys (a broadcast's under its hash tag {b:<id>}, a tenant's under the
// directory's {d:<tenant>}):
//
//	{b:<id>}:waves          hash: <zone> -> {"at":ms,"n":recipients,"s":state,"c":cursor};
//	                        "#cursor" (the grouping's last user done), "#grouped" (1 once grouped)
//	{b:<id>}:wave:<zone>    sorted set (score 0, by id): the zone's recipients
//	{b:<id>}:wavezones      set: the zones grouped into so far
//	waves:due               sorted set: "<id> <zone>" of pending waves by start (Unix ms)
//
// (every key under the store's prefix, store.Keyspace). waves:due is a
// registry of its own slot: no script touches it beside a broadcast's
// keys. A wave is registered before it is recorded and unregistered after
// it is settled, so a crash between leaves an entry, never a missing one,
// and Start settles an entry whose wave is missing, started or canceled by
// removing it.
//
//	{d:<tenant>}:tz         hash: user -> "<read at, Unix ms>|<zone as Graph gave it>"
//	{d:<tenant>}:zones      set: the IANA zones the tenant's users are known to have
//
// Every write of a broadcast's waves but the start of a wave is made by
// the holder of its expansion lease (store.Keyspace.ExpanderKey) and refused to
// anyone else, so that a dispatcher whose lease ran out cannot move them
// behind the one that took over. A wave is started by one script that
// checks the broadcast is still expanding: of several dispatchers that see
// it due, one starts it, and none does once the broadcast is canceled.
package wave

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/store"
)

func (s *Store) keyDue() string                    { return s.ks.Key("waves:due") }
func (s *Store) wavesKey(id string) string         { return s.ks.BroadcastKey(id, "waves") }
func (s *Store) membersKey(id, zone string) string { return s.ks.BroadcastKey(id, "wave:"+zone) }
func (s *Store) zonesKey(id string) string         { return s.ks.BroadcastKey(id, "wavezones") }

// Fields of the waves hash that are not zones (a zone name has no '#').
const (
	fieldCursor  = "#cursor"
	fieldGrouped = "#grouped"
)

// Store reads and writes waves on a Redis client, in the store's keyspace.
type Store struct {
	rdb redis.UniversalClient
	ks  store.Keyspace
}

// New returns a Store on rdb, its keys in ks.
func New(rdb redis.UniversalClient, ks store.Keyspace) *Store { return &Store{rdb: rdb, ks: ks} }

// Wave is one zone's wave with where its expansion stands.
type Wave struct {
	broadcast.Zone
	Cursor string // the last recipient queued, "" at the start
}

type record struct {
	At int64  `json:"at"`
	N  int64  `json:"n"`
	S  string `json:"s"`
	C  string `json:"c,omitempty"`
}

// Grouping returns the last user the grouping by zone did ("" at the
// start) and whether it is done.
func (s *Store) Grouping(ctx context.Context, id string) (string, bool, error) {
	v, err := s.rdb.HMGet(ctx, s.wavesKey(id), fieldCursor, fieldGrouped).Result()
	if err != nil {
		return "", false, fmt.Errorf("read the zone grouping of %s: %w", id, err)
	}
	c, _ := v[0].(string)
	return c, v[1] != nil, nil
}

// leaseScript prefixes a script that writes only for the lease holder:
// KEYS[1] is the expander lease, ARGV[1] the holder.
const leaseScript = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
`

// groupScript adds a page of users to their zones' waves and saves the
// grouping's cursor past it. KEYS: expander, waves, then one wave's
// members per zone, then the zones grouped into. ARGV: holder, cursor,
// then per zone its name and the count n of its users, then the users,
// zone after zone.
var groupScript = redis.NewScript(leaseScript + `
local nz = (#KEYS - 3)
local at = 3 + 2 * nz
for i = 1, nz do
  local n = tonumber(ARGV[2 + 2 * i])
  for j = at, at + n - 1 do redis.call('ZADD', KEYS[2 + i], 0, ARGV[j]) end
  at = at + n
  redis.call('SADD', KEYS[#KEYS], ARGV[1 + 2 * i])
end
redis.call('HSET', KEYS[2], '#cursor', ARGV[2])
return 1`)

// Group adds users to the waves of their zones (byZone: zone -> users)
// and records that the grouping is done up to cursor; a page redone adds
// nothing twice.
func (s *Store) Group(ctx context.Context, id, holder, cursor string, byZone map[string][]string) error {
	keys := []string{s.ks.ExpanderKey(id), s.wavesKey(id)}
	args := []any{holder, cursor}
	var users []any
	for _, z := range sortedZones(byZone) {
		keys = append(keys, s.membersKey(id, z))
		args = append(args, z, len(byZone[z]))
		for _, u := range byZone[z] {
			users = append(users, u)
		}
	}
	keys = append(keys, s.zonesKey(id))
	n, err := groupScript.Run(ctx, s.rdb, keys, append(args, users...)...).Int()
	return answer(n, err, "group the audience of "+id+" by zone")
}

// finishGroupScript records each zone's wave: its start, its number of
// recipients, pending. A wave recorded before (a finish redone) keeps its
// state. KEYS: expander, waves, then one wave's members per zone. ARGV:
// holder, id, then per zone its name and start (Unix ms).
var finishGroupScript = redis.NewScript(leaseScript + `
for i = 1, #KEYS - 2 do
  local zone, at = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  if redis.call('HEXISTS', KEYS[2], zone) == 0 then
    local n = redis.call('ZCARD', KEYS[2 + i])
    redis.call('HSET', KEYS[2], zone, cjson.encode({at = tonumber(at), n = n, s = 'pending'}))
  end
end
redis.call('HSET', KEYS[2], '#grouped', 1)
return 1`)

// FinishGrouping records the waves, each zone's starting at starts[zone],
// and registers them to be started when due (Due, Start).
func (s *Store) FinishGrouping(ctx context.Context, id, holder string, starts map[string]time.Time) error {
	keys := []string{s.ks.ExpanderKey(id), s.wavesKey(id)}
	args := []any{holder, id}
	due := make([]redis.Z, 0, len(starts))
	for _, z := range sortedZones(starts) {
		keys = append(keys, s.membersKey(id, z))
		args = append(args, z, starts[z].UnixMilli())
		due = append(due, redis.Z{Score: float64(starts[z].UnixMilli()), Member: id + " " + z})
	}
	// Registered first: an entry whose wave is not recorded (this script
	// refused, or never ran) is settled by Start; a redone finish's entry
	// for a wave already started too.
	if len(due) > 0 {
		if err := s.rdb.ZAdd(ctx, s.keyDue(), due...).Err(); err != nil {
			return fmt.Errorf("register the zone waves of %s: %w", id, err)
		}
	}
	n, err := finishGroupScript.Run(ctx, s.rdb, keys, args...).Int()
	return answer(n, err, "record the zone waves of "+id)
}

// GroupedZones lists the zones the grouping has put users in so far.
func (s *Store) GroupedZones(ctx context.Context, id string) ([]string, error) {
	zones, err := s.rdb.SMembers(ctx, s.zonesKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("list the zones of %s: %w", id, err)
	}
	sort.Strings(zones)
	return zones, nil
}

// Waves lists the broadcast's waves by start, then zone; none before the
// grouping is done.
func (s *Store) Waves(ctx context.Context, id string) ([]Wave, error) {
	m, err := s.rdb.HGetAll(ctx, s.wavesKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the zone waves of %s: %w", id, err)
	}
	out := make([]Wave, 0, len(m))
	for zone, raw := range m {
		if strings.HasPrefix(zone, "#") {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("decode the %s wave of %s: %w", zone, id, err)
		}
		out = append(out, Wave{Zone: broadcast.Zone{Zone: zone, StartAt: time.UnixMilli(r.At).UTC(), Recipients: r.N,
			State: broadcast.ZoneState(r.S)}, Cursor: r.C})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartAt.Equal(out[j].StartAt) {
			return out[i].StartAt.Before(out[j].StartAt)
		}
		return out[i].Zone.Zone < out[j].Zone.Zone
	})
	return out, nil
}

// Zones returns the broadcast's waves for its status: a wave still
// pending when the broadcast has ended or is being canceled never starts,
// and reads canceled.
func (s *Store) Zones(ctx context.Context, b *broadcast.Broadcast) ([]broadcast.Zone, error) {
	ws, err := s.Waves(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	stopped := b.Status == broadcast.StatusCanceling || b.Status == broadcast.StatusCanceled || b.Status == broadcast.StatusFailed
	out := make([]broadcast.Zone, len(ws))
	for i, w := range ws {
		out[i] = w.Zone
		if stopped && w.State == broadcast.ZonePending {
			out[i].State = broadcast.ZoneCanceled
		}
	}
	return out, nil
}

// Members returns up to n recipients of a zone's wave after the id after.
func (s *Store) Members(ctx context.Context, id, zone, after string, n int64) ([]string, error) {
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	ids, err := s.rdb.ZRangeByLex(ctx, s.membersKey(id, zone), &redis.ZRangeBy{Min: lo, Max: "+", Count: n}).Result()
	if err != nil {
		return nil, fmt.Errorf("read the %s wave of %s: %w", zone, id, err)
	}
	return ids, nil
}

// waveScript moves a started wave on: ARGV[4] "" saves its cursor
// ARGV[3], "done" ends it. KEYS: expander, waves. ARGV: holder, zone,
// cursor, "" or "done". Returns 1, -1 (lease lost), -3 (no such wave
// started).
var waveScript = redis.NewScript(leaseScript + `
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return -3 end
local w = cjson.decode(raw)
if w.s ~= 'started' then return -3 end
if ARGV[4] == 'done' then w.s = 'done' else w.c = ARGV[3] end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(w))
return 1`)

// SaveCursor records that the zone's wave is queued up to the recipient
// after.
func (s *Store) SaveCursor(ctx context.Context, id, holder, zone, after string) error {
	n, err := waveScript.Run(ctx, s.rdb, []string{s.ks.ExpanderKey(id), s.wavesKey(id)}, holder, zone, after, "").Int()
	return answer(n, err, "save the "+zone+" wave's cursor of "+id)
}

// Finish records that every recipient of the zone's wave is queued.
func (s *Store) Finish(ctx context.Context, id, holder, zone string) error {
	n, err := waveScript.Run(ctx, s.rdb, []string{s.ks.ExpanderKey(id), s.wavesKey(id)}, holder, zone, "", "done").Int()
	return answer(n, err, "finish the "+zone+" wave of "+id)
}

// Due lists up to n pending waves whose start has come by now, earliest
// first, as (broadcast id, zone), skipping the first offset of them (those
// a caller left registered: another deployment's, say).
func (s *Store) Due(ctx context.Context, now time.Time, offset, n int64) ([][2]string, error) {
	ms, err := s.rdb.ZRangeByScore(ctx, s.keyDue(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10),
		Offset: offset, Count: n}).Result()
	if err != nil {
		return nil, fmt.Errorf("list due zone waves: %w", err)
	}
	out := make([][2]string, 0, len(ms))
	for _, m := range ms {
		id, zone, ok := strings.Cut(m, " ")
		if !ok {
			continue
		}
		out = append(out, [2]string{id, zone})
	}
	return out, nil
}

// startScript starts a due pending wave of an expanding broadcast.
// KEYS: meta, waves. ARGV: id, zone, now (Unix ms), the tenants served
// (comma separated). Returns started; early (not due); foreign (a tenant
// not served: left registered); canceled (the broadcast was canceled or
// failed: the wave too); missing; "wave <state>" for a wave not pending
// (another caller started it); or the broadcast's status when it cannot
// start. Start unregisters all but early, foreign and a status.
var startScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'status', 'tenant')
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not m[1] or not raw then return 'missing' end
local w = cjson.decode(raw)
if w.s ~= 'pending' then return 'wave ' .. w.s end
if m[1] == 'canceling' or m[1] == 'canceled' or m[1] == 'failed' then
  w.s = 'canceled'
  redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(w))
  return 'canceled'
end
if m[1] ~= 'expanding' then return m[1] end
if w.at > tonumber(ARGV[3]) then return 'early' end
local served = false
for tenant in string.gmatch(ARGV[4], '[^,]+') do
  if tenant == m[2] then served = true end
end
if not served then return 'foreign' end
w.s = 'started'
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(w))
return 'started'`)

// Start starts the zone's wave if it is due by now and its broadcast is
// expanding for one of tenants: one script, so that of several callers
// one starts it. The verdict is "started" or why not (see startScript).
func (s *Store) Start(ctx context.Context, id, zone string, now time.Time, tenants []string) (string, error) {
	v, err := startScript.Run(ctx, s.rdb, []string{s.ks.MetaKey(id), s.wavesKey(id)},
		id, zone, now.UnixMilli(), strings.Join(tenants, ",")).Text()
	if err == nil && (v == "started" || v == "canceled" || v == "missing" || strings.HasPrefix(v, "wave ")) {
		// Settled: unregistered after (another slot). A crash between
		// leaves the entry, which the next look settles again.
		err = s.rdb.ZRem(ctx, s.keyDue(), id+" "+zone).Err()
	}
	if err != nil {
		return "", fmt.Errorf("start the %s wave of %s: %w", zone, id, err)
	}
	return v, nil
}

// cancelScript cancels the pending waves of a broadcast. KEYS: waves.
// Returns the zones it canceled.
var cancelScript = redis.NewScript(`
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local zone = all[i]
  if string.sub(zone, 1, 1) ~= '#' then
    local w = cjson.decode(all[i + 1])
    if w.s == 'pending' then
      w.s = 'canceled'
      redis.call('HSET', KEYS[1], zone, cjson.encode(w))
      out[#out + 1] = zone
    end
  end
end
return out`)

// CancelPending cancels the broadcast's waves not started yet and returns
// how many there were.
func (s *Store) CancelPending(ctx context.Context, id string) (int, error) {
	zones, err := cancelScript.Run(ctx, s.rdb, []string{s.wavesKey(id)}).StringSlice()
	if err == nil && len(zones) > 0 {
		// Unregistered after (another slot); an entry a crash leaves is
		// settled by Start, which finds its wave canceled.
		members := make([]any, len(zones))
		for i, z := range zones {
			members[i] = id + " " + z
		}
		err = s.rdb.ZRem(ctx, s.keyDue(), members...).Err()
	}
	if err != nil {
		return 0, fmt.Errorf("cancel the pending zone waves of %s: %w", id, err)
	}
	return len(zones), nil
}

// errNoWave: a wave write found no started wave of that zone.
var errNoWave = errors.New("no such wave started")

func answer(n int, err error, what string) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case n == -1:
		return fmt.Errorf("%s: %w", what, store.ErrLeaseLost)
	case n == -3:
		return fmt.Errorf("%s: %w", what, errNoWave)
	}
	return nil
}

func sortedZones[V any](m map[string]V) []string {
	zones := make([]string, 0, len(m))
	for z := range m {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	return zones
}
