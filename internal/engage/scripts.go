package engage

import (
	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/timeseries"
)

// luaIDs compares activity ids and finds when a message was read.
//
// le(a, b): a <= b as activity ids, numerically when both are decimal
// (Teams' ids are epoch milliseconds; compared as digit strings, so any
// length is exact), as strings when neither is; a decimal id and another
// are not comparable (false).
//
// read_at(id, rc): the earliest time of a receipt at or above id, rc being
// the receipts hash's HGETALL (lastReadMessageId -> ms); nil if none.
//
// sync(): the entries of the sent hash (KEYS[1]) whose broadcast must
// hear of a read or of receipts being on: a flat list of activity id,
// broadcast id, read time (0: nothing new), receipts on ('1' or '0').
const luaIDs = `
local function le(a, b)
  local na, nb = string.find(a, '^%d+$') ~= nil, string.find(b, '^%d+$') ~= nil
  if na ~= nb then return false end
  if na then
    a = (string.gsub(a, '^0+', ''))
    b = (string.gsub(b, '^0+', ''))
    if #a ~= #b then return #a < #b end
  end
  return a <= b
end

local function read_at(id, rc)
  local best = nil
  for i = 1, #rc, 2 do
    if le(id, rc[i]) then
      local t = tonumber(rc[i+1])
      if not best or t < best then best = t end
    end
  end
  return best
end

local function sync()
  local rc = redis.call('HGETALL', KEYS[2])
  local on = #rc > 0
  local out = {}
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local e = cjson.decode(all[i+1])
    local r = read_at(all[i], rc)
    local needR = r ~= nil and (e.r == nil or r < e.r)
    local needO = on and e.o == nil
    if needR or needO then
      out[#out+1] = all[i]
      out[#out+1] = e.b
      if needR then out[#out+1] = string.format('%d', r) else out[#out+1] = '0' end
      if on then out[#out+1] = '1' else out[#out+1] = '0' end
    end
  end
  return out
end
`

// noteSentScript indexes a message sent to the user and returns what its
// broadcast must hear (sync). KEYS[1] sent, KEYS[2] rcpt. ARGV[1] activity
// id, ARGV[2] broadcast id, ARGV[3] sent at (ms), ARGV[4] most entries
// kept (the oldest sent goes), ARGV[5] TTL (s).
var noteSentScript = redis.NewScript(luaIDs + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur).b ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({b = ARGV[2], t = tonumber(ARGV[3])}))
end
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[4]) then
  local all = redis.call('HGETALL', KEYS[1])
  local oldest, at = nil, nil
  for i = 1, #all, 2 do
    local t = cjson.decode(all[i+1]).t
    if not at or t < at then oldest, at = all[i], t end
  end
  redis.call('HDEL', KEYS[1], oldest)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return sync()
`)

// receiptScript records a read receipt and returns what the broadcasts
// must hear (sync). Receipts are kept as a staircase: a receipt is dropped
// when another covers as much at an earlier or equal time, and drops those
// it covers at a later or equal time, so a late or repeated receipt changes
// nothing and each message keeps its earliest read time. KEYS[1] sent,
// KEYS[2] rcpt. ARGV[1] lastReadMessageId, ARGV[2] now (ms), ARGV[3] TTL (s).
var receiptScript = redis.NewScript(luaIDs + `
local L, T = ARGV[1], tonumber(ARGV[2])
local rc = redis.call('HGETALL', KEYS[2])
local covered = false
for i = 1, #rc, 2 do
  if le(L, rc[i]) and tonumber(rc[i+1]) <= T then covered = true end
end
if not covered then
  for i = 1, #rc, 2 do
    if le(rc[i], L) and tonumber(rc[i+1]) >= T then redis.call('HDEL', KEYS[2], rc[i]) end
  end
  redis.call('HSET', KEYS[2], L, T)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return sync()
`)

// markScript notes that the broadcasts heard what sync returned. KEYS[1]
// sent. ARGV: triples of activity id, read time (ms, 0: none), receipts on.
var markScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local e = cjson.decode(cur)
    local r = tonumber(ARGV[i+1])
    if r > 0 and (e.r == nil or r < e.r) then e.r = r end
    if ARGV[i+2] == '1' then e.o = 1 end
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(e))
  end
end
return 1
`)

// readScript records on the broadcast that a recipient read it (the
// earliest time kept) or has receipts on. KEYS[1] counts, KEYS[2] read,
// KEYS[3] rxon, KEYS[4] series, KEYS[5] the store's rec. ARGV[1] user,
// ARGV[2] read at (ms, 0: not read), ARGV[3] receipts on ('1').
// Returns 1 when the recipient is newly read, -1 when not a recipient.
var readScript = redis.NewScript(timeseries.Lua + `
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then return -1 end
if ARGV[3] == '1' and redis.call('HSETNX', KEYS[3], ARGV[1], 1) == 1 then
  redis.call('HINCRBY', KEYS[1], 'receipts_on', 1)
end
local at = tonumber(ARGV[2])
if at == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '')
if not cur then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'read', 1)
  bucket(KEYS[4], 'r', at, 1)
  return 1
end
if at < cur then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  bucket(KEYS[4], 'r', cur, -1)
  bucket(KEYS[4], 'r', at, 1)
end
return 0
`)

// reactScript adds or removes a recipient's reactions. KEYS[1] counts,
// KEYS[2] react, KEYS[3] the store's rec. ARGV[1] user, ARGV[2] 'add' or
// 'remove', ARGV[3] most types a recipient keeps, ARGV[4..] reaction
// types. Returns how many changed, -1 when not a recipient.
var reactScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return -1 end
local set, n = {}, 0
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  for _, t in ipairs(cjson.decode(cur)) do set[t] = true; n = n + 1 end
end
local before, changed = n, 0
for i = 4, #ARGV do
  local t = ARGV[i]
  if ARGV[2] == 'add' and not set[t] and n < tonumber(ARGV[3]) then
    set[t] = true; n = n + 1; changed = changed + 1
    redis.call('HINCRBY', KEYS[1], 'rx:' .. t, 1)
  elseif ARGV[2] == 'remove' and set[t] then
    set[t] = nil; n = n - 1; changed = changed + 1
    redis.call('HINCRBY', KEYS[1], 'rx:' .. t, -1)
  end
end
if before == 0 and n > 0 then redis.call('HINCRBY', KEYS[1], 'reacted', 1) end
if before > 0 and n == 0 then redis.call('HINCRBY', KEYS[1], 'reacted', -1) end
if n == 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  local list = {}
  for t in pairs(set) do list[#list+1] = t end
  table.sort(list)
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(list))
end
return changed
`)

// actScript records an Action.Execute of a recipient (once per invoke
// activity id) and, for the acknowledge button, the acknowledgement (the
// first kept). KEYS[1] counts, KEYS[2] act, KEYS[3] ack, KEYS[4] series,
// KEYS[5] the store's rec, KEYS[6] the store's meta. ARGV[1] user,
// ARGV[2] tenant, ARGV[3] invoke activity id (empty: none), ARGV[4] now
// (ms), ARGV[5] verb, ARGV[6] data (JSON), ARGV[7] '1' for an
// acknowledgement, ARGV[8] most actions kept per recipient.
// Returns {'norecipient'} or {'ok', new ack '1'/'0', acknowledged at (ms,
// '0': never), duplicate '1'/'0'}.
var actScript = redis.NewScript(timeseries.Lua + `
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 or redis.call('HGET', KEYS[6], 'tenant') ~= ARGV[2] then
  return {'norecipient'}
end
local now = tonumber(ARGV[4])
local list = {}
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then list = cjson.decode(cur) end
local dup = false
if ARGV[3] ~= '' then
  for _, a in ipairs(list) do if a.id == ARGV[3] then dup = true end end
end
if not dup then
  list[#list+1] = {id = ARGV[3], verb = ARGV[5], data = ARGV[6], at = now}
  while #list > tonumber(ARGV[8]) do table.remove(list, 1) end
  if not cur then redis.call('HINCRBY', KEYS[1], 'acted', 1) end
  redis.call('HINCRBY', KEYS[1], 'actions', 1)
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(list))
end
local new, at = '0', redis.call('HGET', KEYS[3], ARGV[1]) or '0'
if ARGV[7] == '1' and at == '0' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'acknowledged', 1)
  bucket(KEYS[4], 'a', now, 1)
  new, at = '1', ARGV[4]
end
if dup then return {'ok', new, at, '1'} end
return {'ok', new, at, '0'}
`)

// replyScript keeps a recipient's reply (once per activity). KEYS[1]
// counts, KEYS[2] replied, KEYS[3] reply, KEYS[4] reply:at, KEYS[5] the
// store's rec. ARGV[1] user, ARGV[2] key (the activity id), ARGV[3] now
// (ms), ARGV[4] the reply as JSON. Returns 1 when kept, 0 when it was
// already, -1 when not a recipient.
var replyScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[4]) == 0 then return 0 end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'replied', 1)
end
redis.call('HINCRBY', KEYS[1], 'replies', 1)
return 1
`)
