// Package store keeps the truth about every broadcast and recipient in Redis.
//
// Every recipient is one field of the broadcast's record hash; a recipient's
// state change is one Lua script that compares the current state, writes the
// record, moves the recipient between the per-state index sorted sets and
// moves the broadcast's counters, so the counters are exact and a redelivered
// job can see that its work is already done.
//
// All keys of one broadcast share the hash tag {b:<id>}, and every script
// and MULTI keeps to the keys of one hash tag, so the same code runs on a
// single Redis, behind Sentinel and on Redis Cluster (REDIS_URL's scheme:
// internal/redisclient). The registries (broadcasts, broadcasts:*, the
// tenants' lists) are other slots: they are written beside the scripts, in
// a crash-safe order (registry.go). Every key is built by Keyspace
// (keys.go), under REDIS_PREFIX, which the list below leaves out.
//
//	{b:<id>}:meta          hash: tenant, status, message, activity, cursor, expanded, times
//	{b:<id>}:counts        hash: total and one counter per state
//	{b:<id>}:rec           hash: user id -> recipient record (JSON)
//	{b:<id>}:idx:<state>   sorted set (score 0, by user id): recipients in that state
//	{b:<id>}:outcomes      hash: <state>:m:<minute> -> recipients that reached sent, blocked or failed then (series.go)
//	{b:<id>}:users         list: the audience's userIds, in request order
//	{b:<id>}:aud, :excl, :in:*, :unres:*   the audience's resolution (audience.go)
//	{b:<id>}:ops           hash: op:<token> -> the answer of a fenced call (fence.go); 10 min TTL
//	{d:<tenant>}:*         the tenant's directory cache and its sync (directory.go, dirsync.go)
//	broadcasts             sorted set by creation time: every broadcast id
//	{t:<tenant>}:broadcasts sorted set by creation time (ms): the tenant's broadcasts (ListBroadcasts)
//	{u:<tenant>}:unreachable hash: user id -> last unreachable outcome (reason, broadcast, at, times; JSON)
//	{u:<tenant>}:unreachable:at sorted set by that outcome's time (ms): the same users, for paging
//	broadcasts:expanding   sorted set by registration time: broadcasts whose expansion must run or resume
//	broadcasts:scheduled, :pending_approval, :canceling, :changing   the other registries (keys.go)
//	conv:<tenant>:<user>   string: the user's 1:1 conversation id with the bot
//	botinst:<tenant>:<user> string: the conversation of the install the bot endpoint heard of last; AnnounceTTL
//	idem:<tenant>:<actor>:<key>  hash: an API key's Idempotency-Key's broadcast id, request hash, created and claimed (ms); 24 h TTL
//	{t:<tenant>}:pause     string: Redis time (µs) until which no request may reach the tenant
//	{t:<tenant>}:rate      string: Redis time (µs) of the tenant's next free request slot
//	{t:<tenant>}:aimd      hash: rate learned from 429s, climb, hold (Redis µs), cfg (configured rate)
package store
