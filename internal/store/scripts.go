package store

import (
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/timeseries"
)

// nScriptKeys is the number of KEYS every recipient script takes
// (bkeys.script): record hash, counters, meta, one index per state.
var nScriptKeys = 3 + len(broadcast.States)

// luaPrelude maps a state name to its index key and defines the completion
// check shared by the scripts. KEYS: rec, counts, meta, idx per state.
var luaPrelude = func() string {
	var b strings.Builder
	b.WriteString("local idx = {}\n")
	for i, s := range broadcast.States {
		b.WriteString("idx['" + string(s) + "'] = KEYS[" + itoa(i+4) + "]\n")
	}
	b.WriteString("local final = {}\nlocal finals = {}\n")
	for _, s := range broadcast.States {
		if s.Final() {
			b.WriteString("final['" + string(s) + "'] = true\nfinals[#finals+1] = '" + string(s) + "'\n")
		}
	}
	b.WriteString(`
-- complete_if_done ends the broadcast (completed; canceled when it is
-- being canceled, failed when its expansion failed: see failScript) once
-- it is expanded and every recipient is final.
local function complete_if_done(now)
  local m = redis.call('HMGET', KEYS[3], 'expanded', 'status', 'error')
  if m[1] ~= '1' or m[2] == 'completed' or m[2] == 'canceled' or m[2] == 'failed' then return 0 end
  local c = redis.call('HMGET', KEYS[2], 'total', unpack(finals))
  local total = tonumber(c[1] or 0) or 0
  local done = 0
  for i = 2, #c do done = done + (tonumber(c[i] or 0) or 0) end
  if done >= total then
    local st = 'completed'
    if m[2] == 'canceling' then st = 'canceled' end
    if m[2] == 'canceling' and m[3] then st = 'failed' end
    redis.call('HSET', KEYS[3], 'status', st, 'completed_at', now)
    return 1
  end
  return 0
end

-- move changes a recipient's index entry and counters from one state to another.
local function move(user, cur, to)
  if cur == to then return end
  redis.call('ZREM', idx[cur], user)
  redis.call('ZADD', idx[to], 0, user)
  redis.call('HINCRBY', KEYS[2], cur, -1)
  redis.call('HINCRBY', KEYS[2], to, 1)
end
`)
	return b.String()
}()

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// addScript adds recipients that are not known yet. ARGV: now, then triples
// (user, state, conversation). Returns, per user, "n<state>" when added or
// "e<state>" with the state it already had; or only "c" when the broadcast
// is canceled or failed (nothing is added).
//
// It runs once per page of about a thousand users, so it spends as few
// calls per user as it can: one HSETNX both checks and writes the record
// (the record without a conversation is the same for every user of a
// state, encoded once), and the index entries and counters are written once
// per state at the end.
var addScript = redis.NewScript(luaPrelude + `
local now = tonumber(ARGV[1])
local status = redis.call('HGET', KEYS[3], 'status')
if status == 'canceling' or status == 'canceled' or status == 'failed' then return {'c'} end
local out = {}
local plain = {}   -- state -> the record of a user without a conversation
local added = {}   -- state -> {0, user, 0, user, ...}: ZADD's arguments
local total = 0
for i = 3, #ARGV, 3 do
  if not idx[ARGV[i]] then return redis.error_reply('unknown state ' .. ARGV[i]) end
end
for i = 2, #ARGV, 3 do
  local user, state, conv = ARGV[i], ARGV[i+1], ARGV[i+2]
  local rec
  if conv == '' then
    rec = plain[state]
    if not rec then
      rec = cjson.encode({s = state, a = 0, t = now})
      plain[state] = rec
    end
  else
    rec = cjson.encode({s = state, a = 0, t = now, c = conv})
  end
  if redis.call('HSETNX', KEYS[1], user, rec) == 1 then
    local z = added[state]
    if not z then
      z = {}
      added[state] = z
    end
    z[#z+1] = 0
    z[#z+1] = user
    total = total + 1
    out[#out+1] = 'n' .. state
  else
    out[#out+1] = 'e' .. cjson.decode(redis.call('HGET', KEYS[1], user)).s
  end
end
for state, z in pairs(added) do
  -- unpack is bounded by Lua's stack: at most 1000 members a call.
  for j = 1, #z, 2000 do
    redis.call('ZADD', idx[state], unpack(z, j, math.min(j + 1999, #z)))
  end
  redis.call('HINCRBY', KEYS[2], state, #z / 2)
end
if total > 0 then redis.call('HINCRBY', KEYS[2], 'total', total) end
return out
`)

// transitionScript moves one recipient. ARGV: user, allowed from-states
// (comma separated; empty = any state that is not final), to-state, now (ms),
// owner, lease (ms), then the changes as a JSON object:
// {reason, err, conv, act, incr: [counter names], dup: count a possible
// duplicate}.
// KEYS[nScriptKeys+1] is the outcomes series (series.go): a recipient
// reaching sent, blocked or failed counts in its minute.
// Returns {verdict, previous state, record JSON, tenant}; verdict is ok, skip (the
// current state is not allowed), busy (claimed by another owner whose lease
// runs), lost (a move out of a claim by an owner whose claim it is no
// longer), canceled (the broadcast is being canceled: the recipient was moved
// to canceled instead of a state that would lead to a send), or missing.
// The tenant is given when the recipient is sent, blocked or failed, for
// the tenant's unreachable report (see Store.noteReach), else "".
var transitionScript = redis.NewScript(luaPrelude + timeseries.Lua + `
local function reach_tenant(s)
  if s == 'sent' or s == 'blocked' or s == 'failed' then return redis.call('HGET', KEYS[3], 'tenant') or '' end
  return ''
end
local user, from, to, now, owner, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local ch = cjson.decode(ARGV[7])
local raw = redis.call('HGET', KEYS[1], user)
if not raw then return {'missing', '', ''} end
local r = cjson.decode(raw)
local cur = r.s
local allowed = false
if from == '' then
  allowed = not final[cur]
else
  for s in string.gmatch(from, '[^,]+') do
    if s == cur then allowed = true end
  end
end
if not allowed then return {'skip', cur, raw, reach_tenant(cur)} end
if to == 'sending' and cur == 'sending' and r.o and r.o ~= owner and (tonumber(r.l) or 0) > now then
  return {'busy', cur, raw}
end
if to ~= 'sending' and owner ~= '' and cur == 'sending' and r.o ~= owner then
  -- A claim taken over (its lease ran out under a stalled owner) is the
  -- new owner's to end.
  return {'lost', cur, raw}
end
local verdict = 'ok'
if not final[to] and redis.call('HGET', KEYS[3], 'status') == 'canceling' then
  -- A canceled broadcast sends nothing more: a claim, a release or a
  -- hand-off ends the recipient canceled instead.
  to, verdict = 'canceled', 'canceled'
  -- a release after a send that may have been delivered still counts
  ch = {dup = ch.dup}
elseif to == 'sending' and cur == 'sending' then
  -- Taking over a claim whose lease ran out: the earlier sender may have
  -- delivered before it died.
  redis.call('HINCRBY', KEYS[2], 'possible_duplicates', 1)
end
if ch.dup then redis.call('HINCRBY', KEYS[2], 'possible_duplicates', 1) end
move(user, cur, to)
r.s = to
r.t = now
if to == 'sending' then r.o = owner; r.l = now + lease else r.o = nil; r.l = nil end
if ch.reason then r.r = ch.reason end
if ch.err then r.e = ch.err end
if ch.conv then r.c = ch.conv end
if ch.act then r.act = ch.act end
if ch.incr then
  for _, k in ipairs(ch.incr) do r[k] = (tonumber(r[k]) or 0) + 1 end
end
local out = cjson.encode(r)
redis.call('HSET', KEYS[1], user, out)
if final[to] and not final[cur] then
  if to ~= 'canceled' then bucket(KEYS[` + itoa(nScriptKeys+1) + `], to, now, 1) end
  complete_if_done(now)
end
return {verdict, cur, out, reach_tenant(to)}
`)

// finishScript marks the expansion done and completes the broadcast if every
// recipient is already final. ARGV: now.
var finishScript = redis.NewScript(luaPrelude + `
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
redis.call('HSET', KEYS[3], 'expanded', '1', 'cursor', '')
if redis.call('HGET', KEYS[3], 'status') == 'expanding' then
  redis.call('HSET', KEYS[3], 'status', 'sending')
end
return complete_if_done(now)
`)

// Tenant scripts work in Redis's own clock (TIME, in µs), so that processes
// on hosts whose clocks differ still agree on when a pause ends.
// Values are stored with %.0f: Lua would print a µs timestamp as 1.76e+15 and
// lose its last digits.
const luaNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`

// pauseLeftScript returns how long the tenant stays paused (µs, <= 0 when not).
var pauseLeftScript = redis.NewScript(luaNow + `
return (tonumber(redis.call('GET', KEYS[1]) or 0) or 0) - now
`)

// forgetScript removes a member of broadcasts:expanding registered before
// ARGV[2] (Unix ms).
var forgetScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) < tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
`)
