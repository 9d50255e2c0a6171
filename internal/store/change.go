package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The edit and the recall of a broadcast's message ("changes") each have,
// beside the broadcast's keys and under its hash tag:
//
//	{b:<id>}:<op>          hash: user id -> the recipient's op record (JSON)
//	{b:<id>}:<op>:counts   hash: round, status, total, pending, done, failed,
//	                       skipped, enumerated, cursor, started_at, completed_at
//
// where <op> is edit or recall. An op record is {r: round, s: state, a:
// attempts, rt: retries, th: throttles, e: last error, why: reason, o:
// owner, l: lease (ms), md: an earlier call got no answer, t: time}; its
// states are pending, updating (a call in flight, counted as pending),
// done, failed, skipped, and current (sent with this round's activity
// already: not a target, not counted).
// Every move is one script that also moves the round's counters, so they
// are exact; a new edit round starts its counters at zero and retargets
// every recipient, whatever the round before had done for it.

// IsChangeStage reports whether stage is the edit or the recall.
func IsChangeStage(stage broadcast.Stage) bool {
	return stage == broadcast.StageEdit || stage == broadcast.StageRecall
}

// changeLua is shared by the op scripts. KEYS: meta, rec, op records, op counters.
const changeLua = `
local function cnt(field, d) redis.call('HINCRBY', KEYS[4], field, d) end
local function complete_change(now)
  local c = redis.call('HMGET', KEYS[4], 'enumerated', 'status', 'pending')
  if c[1] == '1' and c[2] == 'running' and (tonumber(c[3]) or 0) <= 0 then
    redis.call('HSET', KEYS[4], 'status', 'completed', 'completed_at', now)
  end
end
local function load(user)
  local raw = redis.call('HGET', KEYS[3], user)
  if raw then return cjson.decode(raw) end
  return {}
end
-- target makes a user who got the message a pending target of round,
-- counted; a call of an older round still in flight keeps its owner and
-- lease, so this round's call waits for it. False if already a target.
local function target(user, round, now)
  local r = load(user)
  if (tonumber(r.r) or 0) >= round then return false end
  r.r, r.s, r.t = round, 'pending', now
  r.a, r.rt, r.th, r.e, r.why = nil, nil, nil, nil, nil
  redis.call('HSET', KEYS[3], user, cjson.encode(r))
  cnt('total', 1)
  cnt('pending', 1)
  if redis.call('HGET', KEYS[4], 'status') == 'completed' then
    redis.call('HSET', KEYS[4], 'status', 'running')
    redis.call('HDEL', KEYS[4], 'completed_at')
  end
  return true
end
local function delivered(user)
  local raw = redis.call('HGET', KEYS[2], user)
  if not raw then return nil end
  local rec = cjson.decode(raw)
  if rec.s ~= 'sent' or not rec.act or rec.act == '' then return nil end
  return rec
end
`

func (k ckeys) script() []string { return []string{k.meta, k.rec, k.op, k.opc} }

// startEditScript starts edit round N+1: the new message and activity
// replace the broadcast's (recipients not sent yet get them), and the
// round's counters start. KEYS: meta, counts, edit counters. ARGV: now,
// message, activity. Returns {round, sent}; round -1: no broadcast, -2:
// recalled, -3: pending approval (what the approver sees is what is
// sent), -4: rejected.
var startEditScript = fencedScript(`
local function apply()
  if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
  if (tonumber(redis.call('HGET', KEYS[1], 'recall_round')) or 0) > 0 then return {-2, 0} end
  local st = redis.call('HGET', KEYS[1], 'status')
  if st == 'pending_approval' then return {-3, 0} end
  if st == 'rejected' then return {-4, 0} end
  local n = redis.call('HINCRBY', KEYS[1], 'edit_round', 1)
  redis.call('HSET', KEYS[1], 'message', ARGV[2], 'activity', ARGV[3])
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], 'round', n, 'status', 'running', 'total', 0, 'pending', 0, 'done', 0, 'failed', 0,
    'skipped', 0, 'enumerated', 0, 'cursor', '', 'started_at', ARGV[1])
  return {n, tonumber(redis.call('HGET', KEYS[2], 'sent')) or 0}
end
`)

// startRecallScript starts the recall, once, and cancels the broadcast in
// the same step (cancel()), so that nothing is sent after a recall
// started. KEYS: as cancel(), then the recall counters. ARGV: now, id.
// Returns {started (1, 0 when it had been), sent or the recall's total,
// the status before}; {-1, 0, ""} without a broadcast.
var startRecallScript = fencedScript(luaPrelude + cancelLua + `
local function apply()
  local opc = KEYS[` + itoa(nScriptKeys+1) + `]
  if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0, ''} end
  local st = redis.call('HGET', KEYS[3], 'status')
  if (tonumber(redis.call('HGET', KEYS[3], 'recall_round')) or 0) > 0 then
    return {0, tonumber(redis.call('HGET', opc, 'total')) or 0, st}
  end
  redis.call('HSET', KEYS[3], 'recall_round', 1)
  redis.call('DEL', opc)
  redis.call('HSET', opc, 'round', 1, 'status', 'running', 'total', 0, 'pending', 0, 'done', 0, 'failed', 0,
    'skipped', 0, 'enumerated', 0, 'cursor', '', 'started_at', ARGV[1])
  local sent = tonumber(redis.call('HGET', KEYS[2], 'sent')) or 0
  cancel(tonumber(ARGV[1]))
  return {1, sent, st}
end
`)

// StartEdit starts a new edit round of a broadcast with its new message
// and activity, and returns the round and the recipients sent so far. A
// recalled broadcast is refused with a *broadcast.ConflictError. It is
// fenced (fence.go): another error is ErrNotApplied, a
// *broadcast.OutcomeUnknownError, or a failure before anything was sent.
func (s *Store) StartEdit(ctx context.Context, id string, msg broadcast.Message, activity []byte) (int, int64, error) {
	raw, err := json.Marshal(msg)
	if err != nil {
		return 0, 0, fmt.Errorf("encode message: %w", err)
	}
	k := s.changeKeys(id, broadcast.StageEdit)
	if err := s.registerChange(ctx, id, broadcast.StageEdit); err != nil {
		return 0, 0, err
	}
	out, err := s.fenced(ctx, "edit", id, startEditScript, s.keysOf(id).ops, []string{k.meta, k.counts, k.opc}, s.nowMS(), raw, activity)
	if err != nil {
		return 0, 0, err
	}
	res, _ := out.([]any)
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("start an edit of %s: unexpected answer %v", id, out)
	}
	switch round := asInt(res[0]); round {
	case -1:
		return 0, 0, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	case -2:
		return 0, 0, &broadcast.ConflictError{Code: "recalled", Message: "the broadcast's message was recalled: it cannot be edited any more"}
	case -3:
		return 0, 0, &broadcast.ConflictError{Code: "pending_approval", Message: "the broadcast waits for approval: " +
			"an edit would change what the approver is deciding on; cancel it and create it again"}
	case -4:
		return 0, 0, &broadcast.ConflictError{Code: "rejected", Message: "the broadcast was rejected: it cannot be edited"}
	default:
		return int(round), asInt(res[1]), nil
	}
}

// StartRecall starts the recall of a broadcast's message and cancels the
// broadcast (see Cancel). started is false when an earlier call had
// (queued is then the recall's total so far); otherwise queued is the
// recipients sent so far. was is the broadcast's status before. It is
// fenced (fence.go): an error is ErrNotApplied, a
// *broadcast.OutcomeUnknownError, or a failure before anything was sent.
func (s *Store) StartRecall(ctx context.Context, id string) (started bool, queued int64, was broadcast.Status, err error) {
	k := s.changeKeys(id, broadcast.StageRecall)
	if err := s.registerChange(ctx, id, broadcast.StageRecall); err != nil {
		return false, 0, "", err
	}
	if err := s.beforeCancel(ctx, id); err != nil {
		return false, 0, "", err
	}
	out, err := s.fenced(ctx, "recall", id, startRecallScript, s.keysOf(id).ops, append(s.keysOf(id).script(), k.opc), s.nowMS(), id)
	if err != nil {
		return false, 0, "", err
	}
	res, _ := out.([]any)
	if len(res) != 3 {
		return false, 0, "", fmt.Errorf("start the recall of %s: unexpected answer %v", id, out)
	}
	if asInt(res[0]) < 0 {
		return false, 0, "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	st, _ := res[2].(string)
	s.afterCancel(ctx, id, broadcast.Status(st))
	return asInt(res[0]) == 1, asInt(res[1]), broadcast.Status(st), nil
}

// registerChange records that a change of the broadcast must run (or
// resume) before it starts: a dispatcher that dies half-way leaves it for
// another. It is a registry (registry.go), not written by the start script.
func (s *Store) registerChange(ctx context.Context, id string, op broadcast.Stage) error {
	if err := s.rdb.ZAdd(ctx, s.Key(keyChanging), redis.Z{Score: float64(s.nowMS()), Member: id + ":" + string(op)}).Err(); err != nil {
		return fmt.Errorf("register the %s of %s: %w", op, id, err)
	}
	return nil
}

// ChangeRef names a change to run or resume.
type ChangeRef struct {
	BroadcastID string
	Op          broadcast.Stage
}

// Changing lists the changes whose recipients may not all be queued yet.
func (s *Store) Changing(ctx context.Context) ([]ChangeRef, error) {
	ms, err := s.rdb.ZRange(ctx, s.Key(keyChanging), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	out := make([]ChangeRef, 0, len(ms))
	for _, m := range ms {
		id, op, ok := strings.Cut(m, ":")
		if ok && IsChangeStage(broadcast.Stage(op)) {
			out = append(out, ChangeRef{BroadcastID: id, Op: broadcast.Stage(op)})
		}
	}
	return out, nil
}

// Unregister forgets a change whose recipients are all queued, if it was
// registered before the given time: a newer edit round registered since
// stays.
func (s *Store) Unregister(ctx context.Context, c ChangeRef, before time.Time) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{s.Key(keyChanging)}, c.BroadcastID+":"+string(c.Op), before.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("unregister the %s of %s: %w", c.Op, c.BroadcastID, err)
	}
	return nil
}

// ChangeState is where a change stands, for the one queueing its recipients.
type ChangeState struct {
	broadcast.ChangeProgress
	Enumerated bool   // every recipient of the round is queued
	Cursor     string // the queueing has passed every sent user up to it
	Recalled   bool   // the broadcast's message is recalled (an edit stops)
	StartedAt  time.Time
}

// Change returns the state of a broadcast's edit or recall; ErrNotFound
// if it never started.
func (s *Store) Change(ctx context.Context, id string, op broadcast.Stage) (ChangeState, error) {
	k := s.changeKeys(id, op)
	var m *redis.MapStringStringCmd
	var rr *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		m = p.HGetAll(ctx, k.opc)
		rr = p.HGet(ctx, k.meta, "recall_round")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return ChangeState{}, fmt.Errorf("read the %s of %s: %w", op, id, err)
	}
	p := parseProgress(m.Val())
	if p == nil {
		return ChangeState{}, fmt.Errorf("%s of %s: %w", op, id, ErrNotFound)
	}
	n, _ := strconv.Atoi(rr.Val())
	return ChangeState{ChangeProgress: *p, Enumerated: m.Val()["enumerated"] == "1", Cursor: m.Val()["cursor"], Recalled: n > 0,
		StartedAt: msTime(m.Val()["started_at"])}, nil
}

func parseProgress(m map[string]string) *broadcast.ChangeProgress {
	if len(m) == 0 || m["round"] == "" {
		return nil
	}
	p := &broadcast.ChangeProgress{Status: broadcast.ChangeStatus(m["status"])}
	p.Round, _ = strconv.Atoi(m["round"])
	for _, f := range []struct {
		name string
		to   *int64
	}{{"total", &p.Total}, {"pending", &p.Pending}, {"done", &p.Done}, {"failed", &p.Failed}, {"skipped", &p.Skipped}} {
		*f.to, _ = strconv.ParseInt(m[f.name], 10, 64)
	}
	return p
}

// candidatesScript lists, from a page of sent recipients after the
// cursor, those who got the message (an activity id) and are not targets
// of this round yet. KEYS: sent index, rec, op records, op counters.
// ARGV: round, cursor, n. Returns {'superseded'} or {'ok', next cursor,
// users...}.
var candidatesScript = redis.NewScript(`
local round, cursor, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if (tonumber(redis.call('HGET', KEYS[4], 'round')) or 0) ~= round then return {'superseded'} end
local min = '-'
if cursor ~= '' then min = '(' .. cursor end
local users = redis.call('ZRANGE', KEYS[1], min, '+', 'BYLEX', 'LIMIT', 0, n)
local out = {'ok', ''}
if #users == n then out[2] = users[#users] end
for _, user in ipairs(users) do
  local raw = redis.call('HGET', KEYS[2], user)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'sent' and rec.act and rec.act ~= '' then
      local o = redis.call('HGET', KEYS[3], user)
      if not o or (tonumber(cjson.decode(o).r) or 0) < round then out[#out+1] = user end
    end
  end
end
return out
`)

// ChangeCandidates returns the next page of recipients the change's round
// must reach (sent with an activity id, not its targets yet) after cursor,
// and the cursor past the page ("" after the last). superseded: a newer
// edit round has started.
func (s *Store) ChangeCandidates(ctx context.Context, id string, op broadcast.Stage, round int, cursor string, n int) (users []string, next string, superseded bool, err error) {
	k := s.changeKeys(id, op)
	res, err := candidatesScript.Run(ctx, s.rdb, []string{k.sent, k.rec, k.op, k.opc}, round, cursor, n).StringSlice()
	if err != nil {
		return nil, "", false, fmt.Errorf("list the %s recipients of %s: %w", op, id, err)
	}
	if res[0] == "superseded" {
		return nil, "", true, nil
	}
	return res[2:], res[1], false, nil
}

// addTargetsScript makes users targets of the round, counted pending, and
// saves the queueing's cursor. KEYS: meta, rec, op records, op counters.
// ARGV: round, now, cursor ('-': leave it), users... Returns how many were
// added, or -1 when the round is superseded.
var addTargetsScript = redis.NewScript(changeLua + `
local round, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if (tonumber(redis.call('HGET', KEYS[4], 'round')) or 0) ~= round then return -1 end
local added = 0
for i = 4, #ARGV do
  if delivered(ARGV[i]) and target(ARGV[i], round, now) then added = added + 1 end
end
if ARGV[3] ~= '-' then redis.call('HSET', KEYS[4], 'cursor', ARGV[3]) end
return added
`)

// AddChangeTargets counts users as targets of the change's round (those
// who got the message and are not targets yet) and, unless cursor is "-",
// saves the queueing's cursor. Publish their jobs first: a job whose
// target is not counted yet counts it itself (ClaimChange).
func (s *Store) AddChangeTargets(ctx context.Context, id string, op broadcast.Stage, round int, users []string, cursor string) (int, error) {
	k := s.changeKeys(id, op)
	args := make([]any, 0, 3+len(users))
	args = append(args, round, s.nowMS(), cursor)
	for _, u := range users {
		args = append(args, u)
	}
	n, err := addTargetsScript.Run(ctx, s.rdb, k.script(), args...).Int()
	if err != nil {
		return 0, fmt.Errorf("count the %s recipients of %s: %w", op, id, err)
	}
	return n, nil
}

var finishChangeScript = redis.NewScript(changeLua + `
if (tonumber(redis.call('HGET', KEYS[4], 'round')) or 0) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[4], 'enumerated', 1, 'cursor', '')
complete_change(tonumber(ARGV[2]))
return 1
`)

// FinishChangeQueueing records that every recipient of the round is
// queued; the change completes once they are all final.
func (s *Store) FinishChangeQueueing(ctx context.Context, id string, op broadcast.Stage, round int) error {
	if err := finishChangeScript.Run(ctx, s.rdb, s.changeKeys(id, op).script(), round, s.nowMS()).Err(); err != nil {
		return fmt.Errorf("finish queueing the %s of %s: %w", op, id, err)
	}
	return nil
}

// claimChangeScript claims a recipient for its edit or recall call.
// KEYS: meta, rec, op records, op counters. ARGV: op, user, round, owner,
// lease (ms), now. Returns {verdict, conversation, activity id, attempts,
// retries, throttles}; verdict ok, superseded (a newer round), settled
// (final already), busy (another live claim, perhaps of an older round),
// recalled (an edit the recall stopped: counted skipped), gone (the
// recipient did not get the message), missing.
var claimChangeScript = redis.NewScript(changeLua + `
local op, user, round, owner, lease, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = tonumber(redis.call('HGET', KEYS[4], 'round')) or 0
if cur == 0 or round > cur then return {'missing'} end
if round < cur then return {'superseded'} end
local rec = delivered(user)
local r = load(user)
if (tonumber(r.r) or 0) < round then
  -- The job came before its target was counted (whoever queued it died
  -- in between): it counts it.
  if not rec then return {'gone'} end
  target(user, round, now)
  r = load(user)
end
if r.s ~= 'pending' and r.s ~= 'updating' then return {'settled', r.s} end
local live = r.o and r.o ~= owner and (tonumber(r.l) or 0) > now
if op == 'edit' and (tonumber(redis.call('HGET', KEYS[1], 'recall_round')) or 0) > 0 then
  if live then return {'busy'} end
  r.s, r.t, r.why, r.o, r.l = 'skipped', now, 'recalled', nil, nil
  redis.call('HSET', KEYS[3], user, cjson.encode(r))
  cnt('pending', -1)
  cnt('skipped', 1)
  complete_change(now)
  return {'recalled'}
end
if live then return {'busy'} end
r.s, r.o, r.l, r.t = 'updating', owner, now + lease, now
r.a = (tonumber(r.a) or 0) + 1
redis.call('HSET', KEYS[3], user, cjson.encode(r))
local md = '0'
if r.md then md = '1' end
return {'ok', rec.c or '', rec.act, tostring(r.a), tostring(r.rt or 0), tostring(r.th or 0), md}
`)

// ChangeClaim is the outcome of ClaimChange.
type ChangeClaim struct {
	Verdict        string // ok, superseded, settled, busy, recalled, gone, missing
	ConversationID string
	ActivityID     string
	Attempts       int
	Retries        int
	Throttles      int
	// MaybeDone: an earlier call got no answer and may have been carried
	// out (a delete then answered 404 did delete the message).
	MaybeDone bool
}

// ClaimChange claims a recipient for the call of op's round, with owner
// and a lease; see claimChangeScript for the verdicts.
func (s *Store) ClaimChange(ctx context.Context, id string, op broadcast.Stage, user string, round int, owner string, lease time.Duration) (ChangeClaim, error) {
	res, err := claimChangeScript.Run(ctx, s.rdb, s.changeKeys(id, op).script(), string(op), user, round, owner, lease.Milliseconds(), s.nowMS()).StringSlice()
	if err != nil {
		return ChangeClaim{}, fmt.Errorf("claim %s of %s for the %s: %w", user, id, op, err)
	}
	c := ChangeClaim{Verdict: res[0]}
	if c.Verdict == "ok" && len(res) == 7 {
		c.ConversationID, c.ActivityID = res[1], res[2]
		c.Attempts, _ = strconv.Atoi(res[3])
		c.Retries, _ = strconv.Atoi(res[4])
		c.Throttles, _ = strconv.Atoi(res[5])
		c.MaybeDone = res[6] == "1"
	}
	return c, nil
}

// settleChangeScript records the outcome of a claimed call. KEYS: meta,
// rec, op records, op counters. ARGV: user, round, owner, to (done,
// failed, skipped, or pending: released for a retry), now, changes
// {reason, err, incr}. Returns ok, superseded (a newer round retargeted it:
// the claim is only released), or lost (not this owner's claim any more).
var settleChangeScript = redis.NewScript(changeLua + `
local user, round, owner, to, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local ch = cjson.decode(ARGV[6])
local r = load(user)
if r.o ~= owner then return 'lost' end
r.o, r.l, r.t = nil, nil, now
local cur = tonumber(redis.call('HGET', KEYS[4], 'round')) or 0
if (tonumber(r.r) or 0) ~= round or cur ~= round then
  if (tonumber(r.r) or 0) == round then r.s = to end
  redis.call('HSET', KEYS[3], user, cjson.encode(r))
  return 'superseded'
end
if r.s ~= 'updating' then
  redis.call('HSET', KEYS[3], user, cjson.encode(r))
  return 'lost'
end
r.s = to
if ch.reason then r.why = ch.reason end
if ch.err then r.e = ch.err end
if ch.dup then r.md = true end
if ch.incr then
  for _, f in ipairs(ch.incr) do r[f] = (tonumber(r[f]) or 0) + 1 end
end
redis.call('HSET', KEYS[3], user, cjson.encode(r))
if to ~= 'pending' then
  cnt('pending', -1)
  cnt(to, 1)
  complete_change(now)
end
return 'ok'
`)

// Op record states a call ends in (or pending: released for a retry).
const (
	ChangeDone    = "done"
	ChangeFailed  = "failed"
	ChangeSkipped = "skipped"
	ChangePending = "pending"
)

// ChangeOutcome is what a settled call records.
type ChangeOutcome struct {
	To                        string // ChangeDone, ChangeFailed, ChangeSkipped, ChangePending
	Reason                    string
	LastError                 string
	CountRetry, CountThrottle bool
	// MaybeDelivered: the call released got no answer; Teams may have
	// carried it out (see ChangeClaim.MaybeDone).
	MaybeDelivered bool
}

// SettleChange records the outcome of the call claimed by owner and
// returns the script's verdict (ok, superseded, lost).
func (s *Store) SettleChange(ctx context.Context, id string, op broadcast.Stage, user string, round int, owner string, o ChangeOutcome) (string, error) {
	ch := changeArgs{Reason: o.Reason, Err: clipErr(o.LastError), Dup: o.MaybeDelivered}
	if o.CountRetry {
		ch.Incr = append(ch.Incr, "rt")
	}
	if o.CountThrottle {
		ch.Incr = append(ch.Incr, "th")
	}
	raw, _ := json.Marshal(ch)
	v, err := settleChangeScript.Run(ctx, s.rdb, s.changeKeys(id, op).script(), user, round, owner, o.To, s.nowMS(), raw).Text()
	if err != nil {
		return "", fmt.Errorf("record the %s of %s for %s: %w", op, id, user, err)
	}
	return v, nil
}

// followSentScript tells what a recipient just recorded sent needs: the
// recall (it started), or the edit (the activity posted, of version
// ARGV[2], is older than the edit's round); a recipient sent with the
// current round's activity is marked current, not a target. KEYS: meta,
// edit records. ARGV: user, version, now. Returns {op or ”, edit round}.
var followSentScript = redis.NewScript(`
local user, v, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local m = redis.call('HMGET', KEYS[1], 'edit_round', 'recall_round')
local n, rr = tonumber(m[1]) or 0, tonumber(m[2]) or 0
if rr > 0 then return {'recall', tostring(n)} end
if n > v then return {'edit', tostring(n)} end
if n > 0 then
  local raw = redis.call('HGET', KEYS[2], user)
  local r = {}
  if raw then r = cjson.decode(raw) end
  if (tonumber(r.r) or 0) < n then
    r.r, r.s, r.t = n, 'current', now
    redis.call('HSET', KEYS[2], user, cjson.encode(r))
  end
end
return {'', tostring(n)}
`)

// FollowSent tells what a recipient just recorded sent with the activity
// of version (the edit round it was read at) needs: StageRecall, StageEdit
// (of round), or nothing (""). round is the broadcast's current edit round.
func (s *Store) FollowSent(ctx context.Context, id, user string, version int) (op broadcast.Stage, round int, err error) {
	k := s.changeKeys(id, broadcast.StageEdit)
	res, err := s.pipe.Run(ctx, followSentScript, []string{k.meta, k.op}, user, version, s.nowMS()).StringSlice()
	if err != nil {
		return "", 0, fmt.Errorf("follow the send of %s to %s: %w", id, user, err)
	}
	round, _ = strconv.Atoi(res[1])
	return broadcast.Stage(res[0]), round, nil
}

// ActivityVersion returns the broadcast's activity and its version: the
// edit round that stored it (0: as created).
func (s *Store) ActivityVersion(ctx context.Context, id string) ([]byte, int, error) {
	vals, err := s.rdb.HMGet(ctx, s.keysOf(id).meta, "activity", "edit_round").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read activity of %s: %w", id, err)
	}
	a, ok := vals[0].(string)
	if !ok {
		return nil, 0, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	v := 0
	if s, ok := vals[1].(string); ok {
		v, _ = strconv.Atoi(s)
	}
	return []byte(a), v, nil
}

// readBroadcastScript reads a broadcast's meta, counters, and its edit's
// and recall's counters in one call (they share a slot): a list page costs
// one command per broadcast.
var readBroadcastScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
`)

// readBroadcast returns the meta, counters, edit counters and recall
// counters of a broadcast (empty maps where absent).
func (s *Store) readBroadcast(ctx context.Context, id string) ([4]map[string]string, error) {
	var out [4]map[string]string
	k := s.keysOf(id)
	res, err := readBroadcastScript.Run(ctx, s.rdb, []string{k.meta, k.counts,
		s.changeKeys(id, broadcast.StageEdit).opc, s.changeKeys(id, broadcast.StageRecall).opc}).Slice()
	if err != nil {
		return out, err
	}
	for i := range out {
		out[i] = make(map[string]string)
		if i >= len(res) {
			continue
		}
		kv, _ := res[i].([]any)
		for j := 0; j+1 < len(kv); j += 2 {
			f, _ := kv[j].(string)
			v, _ := kv[j+1].(string)
			out[i][f] = v
		}
	}
	return out, nil
}

// statusAndChanges returns a broadcast's status (redis.Nil without a
// record) and whether its edit or recall is running, in one round trip.
func (s *Store) statusAndChanges(ctx context.Context, id string) (string, bool, error) {
	var st *redis.StringCmd
	var cmds [2]*redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		st = p.HGet(ctx, s.keysOf(id).meta, "status")
		for i, op := range []broadcast.Stage{broadcast.StageEdit, broadcast.StageRecall} {
			cmds[i] = p.HGet(ctx, s.changeKeys(id, op).opc, "status")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", false, err
	}
	if errors.Is(st.Err(), redis.Nil) {
		return "", false, redis.Nil
	}
	for _, c := range cmds {
		if c.Val() == string(broadcast.ChangeRunning) {
			return st.Val(), true, nil
		}
	}
	return st.Val(), false, nil
}

// ChangeWaiting returns the recipients of a change's round that wait for
// their call: pending, or claimed by a call whose lease has run out.
func (s *Store) ChangeWaiting(ctx context.Context, id string, op broadcast.Stage, round int) ([]string, error) {
	k := s.changeKeys(id, op)
	now := s.nowMS()
	var out []string
	var cur uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, k.op, cur, "", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("scan the %s records of %s: %w", op, id, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			var r struct {
				R int    `json:"r"`
				S string `json:"s"`
				L int64  `json:"l"`
			}
			if json.Unmarshal([]byte(kv[i+1]), &r) != nil || r.R != round {
				continue
			}
			if r.S == ChangePending || (r.S == "updating" && r.L <= now) {
				out = append(out, kv[i])
			}
		}
		if cur = next; cur == 0 {
			return out, nil
		}
	}
}
