package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// scheduleFields are the meta fields of a broadcast's kind, author and
// schedule (sendAt; localTime, whose zone waves package wave keeps).
func scheduleFields(b *broadcast.Broadcast) []any {
	f := []any{"kind", string(b.Kind.OrBroadcast())}
	if b.PreviewOf != "" {
		f = append(f, "preview_of", b.PreviewOf)
	}
	if b.CreatedBy != "" {
		f = append(f, "created_by", b.CreatedBy)
	}
	if b.SendAt != nil {
		f = append(f, "send_at", b.SendAt.UnixMilli())
	}
	if b.LocalTime != nil {
		f = append(f, "local_time", *b.LocalTime)
	}
	return f
}

func readScheduleFields(b *broadcast.Broadcast, m map[string]string) {
	b.Kind = broadcast.Kind(m["kind"]).OrBroadcast()
	b.PreviewOf = m["preview_of"]
	b.CreatedBy = m["created_by"]
	if v, ok := m["local_time"]; ok {
		b.LocalTime = &v
	}
	for _, f := range []struct {
		field string
		to    **time.Time
	}{{"send_at", &b.SendAt}, {"started_at", &b.StartedAt}} {
		if v := m[f.field]; v != "" {
			t := msTime(v)
			*f.to = &t
		}
	}
}

// luaNowMS is Redis's clock in ms, so that dispatchers on hosts whose
// clocks differ agree on when a broadcast is due.
const luaNowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// dueScript lists up to ARGV[1] members of broadcasts:scheduled due now.
var dueScript = redis.NewScript(luaNowMS + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now), 'LIMIT', 0, tonumber(ARGV[1]))
`)

// startScheduledScript starts a due scheduled broadcast: it becomes
// expanding, in one step with the check, so of several dispatchers only
// one starts it. StartScheduled then registers it in broadcasts:expanding
// and only then takes it out of broadcasts:scheduled (registry.go): one
// that dies in between leaves it scheduled there, and the next poll finds
// it expanding and settles it. KEYS: meta. ARGV: the tenants served (comma
// separated). Returns {verdict, ms left, sendAt}: started, early (not due:
// ms left), foreign (a tenant not served), or the status it has when it is
// not scheduled (missing without a record).
var startScheduledScript = redis.NewScript(luaNowMS + `
local m = redis.call('HMGET', KEYS[1], 'status', 'send_at', 'tenant')
if not m[1] then return {'missing', 0, ''} end
if m[1] ~= 'scheduled' then return {m[1], 0, m[2] or ''} end
local at = tonumber(m[2]) or 0
if at > now then return {'early', at - now, m[2]} end
local served = false
for tenant in string.gmatch(ARGV[1], '[^,]+') do
  if tenant == m[3] then served = true end
end
if not served then return {'foreign', 0, m[2]} end
redis.call('HSET', KEYS[1], 'status', 'expanding', 'started_at', string.format('%.0f', now))
return {'started', 0, m[2]}
`)

// DueScheduled lists up to n scheduled broadcasts whose sendAt has come
// (by Redis's clock), earliest first.
func (s *Store) DueScheduled(ctx context.Context, n int) ([]string, error) {
	ids, err := dueScript.Run(ctx, s.rdb, []string{s.Key(keyScheduled)}, n).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("list due scheduled broadcasts: %w", err)
	}
	return ids, nil
}

// StartScheduled starts a scheduled broadcast that is due, for one of
// tenants: it becomes expanding and is registered for expansion, in one
// script, so that only one caller starts it (started = true) and a caller
// that dies right after loses nothing (any dispatcher resumes registered
// expansions). Otherwise it answers the status the broadcast has (a
// canceled one, or one another caller started, is unscheduled), or
// "early" or "foreign" for one left scheduled.
func (s *Store) StartScheduled(ctx context.Context, id string, tenants []string) (started bool, verdict string, err error) {
	res, err := startScheduledScript.Run(ctx, s.rdb, []string{s.keysOf(id).meta}, strings.Join(tenants, ",")).Slice()
	if err != nil {
		return false, "", fmt.Errorf("start scheduled %s: %w", id, err)
	}
	if len(res) != 3 {
		return false, "", fmt.Errorf("start scheduled %s: unexpected answer %v", id, res)
	}
	v, _ := res[0].(string)
	sendAt, _ := res[2].(string)
	switch v {
	case "early", "foreign":
		return false, v, nil
	case "started":
		err = s.settle(ctx, id, s.Key(keyScheduled), broadcast.StatusExpanding, sendAt)
	case "missing":
		// Registered by a create whose record may be being written now
		// (registry.go): forgotten only once its sendAt is well past.
		err = s.settle(ctx, id, s.Key(keyScheduled), "", "")
	default:
		err = s.settle(ctx, id, s.Key(keyScheduled), broadcast.Status(v), sendAt)
	}
	if err != nil {
		return false, "", fmt.Errorf("start scheduled %s: %w", id, err)
	}
	return v == "started", v, nil
}

// Scheduled reports whether the broadcast waits in broadcasts:scheduled,
// and for when.
func (s *Store) Scheduled(ctx context.Context, id string) (time.Time, bool, error) {
	ms, err := s.rdb.ZScore(ctx, s.Key(keyScheduled), id).Result()
	if err == redis.Nil {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read schedule of %s: %w", id, err)
	}
	return msTime(strconv.FormatInt(int64(ms), 10)), true, nil
}
