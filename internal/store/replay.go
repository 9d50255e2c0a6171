package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// startReplayScript starts a replay round: it counts the round and reopens
// a completed broadcast (completed -> sending) so that its consumers stay.
// Returns {round, status before}, {0, status} for a canceled or scheduled
// broadcast, {0, ""} without a record.
var startReplayScript = fencedScript(luaPrelude + `
local function apply()
  local st = redis.call('HGET', KEYS[3], 'status')
  if not st then return {0, ''} end
  if st == 'canceling' or st == 'canceled' or st == 'scheduled' or st == 'failed' or st == 'pending_approval' or st == 'rejected' then return {0, st} end
  if (tonumber(redis.call('HGET', KEYS[3], 'recall_round')) or 0) > 0 then return {0, 'recalled'} end
  if st == 'completed' then
    redis.call('HSET', KEYS[3], 'status', 'sending')
    redis.call('HDEL', KEYS[3], 'completed_at')
  end
  return {redis.call('HINCRBY', KEYS[3], 'replays', 1), st}
end
`)

// StartReplay starts a replay round of a broadcast and returns its number
// (1 for the first replay). A canceled broadcast, or a scheduled one not
// started yet, is refused with a *broadcast.ConflictError. It is fenced
// (fence.go): another error is ErrNotApplied, a
// *broadcast.OutcomeUnknownError, or a failure before anything was sent.
func (s *Store) StartReplay(ctx context.Context, id string) (int, error) {
	k := s.keysOf(id)
	out, err := s.fenced(ctx, "replay", id, startReplayScript, k.ops, k.script())
	if err != nil {
		return 0, err
	}
	res, _ := out.([]any)
	if len(res) != 2 {
		return 0, fmt.Errorf("start a replay of %s: unexpected answer %v", id, out)
	}
	round := asInt(res[0])
	st, _ := res[1].(string)
	switch {
	case st == "":
		return 0, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	case round == 0 && st == string(broadcast.StatusScheduled):
		return 0, &broadcast.ConflictError{Code: "not_started", Message: "the broadcast is scheduled and has not started: there is nothing to replay yet"}
	case round == 0 && st == string(broadcast.StatusPendingApproval):
		return 0, &broadcast.ConflictError{Code: "pending_approval", Message: "the broadcast waits for approval and has not started: there is nothing to replay yet"}
	case round == 0 && st == string(broadcast.StatusRejected):
		return 0, &broadcast.ConflictError{Code: "rejected", Message: "the broadcast was rejected: nothing was sent, there is nothing to replay"}
	case round == 0 && st == string(broadcast.StatusFailed):
		return 0, &broadcast.ConflictError{Code: "failed", Message: "the broadcast failed before its audience was expanded: see its error, and create it again"}
	case round == 0 && st == "recalled":
		return 0, &broadcast.ConflictError{Code: "recalled", Message: "the broadcast's message was recalled: it cannot be replayed"}
	case round == 0:
		return 0, &broadcast.ConflictError{Code: "canceled", Message: "the broadcast is " + st + ": a canceled broadcast cannot be replayed"}
	}
	return int(round), nil
}

// reopenScript moves a failed or blocked recipient back into the pipeline
// for a replay round. ARGV: user, round, to (pending or installing), allowed
// reasons (comma separated; empty: any), now. A recipient already reopened
// by this round or a later one is left alone, so replaying twice never
// queues a recipient twice, and a job of the round can reopen its
// recipient itself when the replay stopped before it did. Returns
// {verdict, state, record JSON}: ok, skip or missing.
var reopenScript = redis.NewScript(luaPrelude + `
local user, round, to, allowed, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local raw = redis.call('HGET', KEYS[1], user)
if not raw then return {'missing', '', ''} end
local r = cjson.decode(raw)
local st = redis.call('HGET', KEYS[3], 'status')
if (r.s ~= 'failed' and r.s ~= 'blocked') or (tonumber(r.rp) or 0) >= round or st == 'canceling' or st == 'canceled' or st == 'failed' then
  return {'skip', r.s, raw}
end
if allowed ~= '' and not string.find(',' .. allowed .. ',', ',' .. (r.r or '') .. ',', 1, true) then
  return {'skip', r.s, raw}
end
if to == 'pending' and (r.c == nil or r.c == '') then to = 'installing' end
local cur = r.s
move(user, cur, to)
r.s, r.t, r.rp, r.r, r.rt, r.th, r.ri = to, now, round, nil, nil, nil, nil
local out = cjson.encode(r)
redis.call('HSET', KEYS[1], user, out)
redis.call('HINCRBY', KEYS[2], 'replayed', 1)
if st == 'completed' then
  redis.call('HSET', KEYS[3], 'status', 'sending')
  redis.call('HDEL', KEYS[3], 'completed_at')
end
return {'ok', cur, out}
`)

// Reopen moves a failed or blocked recipient whose reason is one of
// allowed (none: any) back to to (StatePending, or StateInstalling when no
// conversation is known) for replay round; see reopenScript. The record's
// retry, throttle and reinstall counts start again; its attempts, last
// error and conversation stay.
func (s *Store) Reopen(ctx context.Context, id, user string, round int, to broadcast.State, allowed []broadcast.Reason) (Result, error) {
	names := make([]string, len(allowed))
	for i, r := range allowed {
		names[i] = string(r)
	}
	res, err := reopenScript.Run(ctx, s.rdb, s.keysOf(id).script(), user, round, string(to), strings.Join(names, ","), s.nowMS()).StringSlice()
	if err != nil {
		return Result{}, fmt.Errorf("reopen %s of %s: %w", user, id, err)
	}
	if res[0] == "missing" {
		return Result{}, fmt.Errorf("recipient %s of %s: %w", user, id, ErrNotFound)
	}
	r := Result{Applied: res[0] == "ok", Prev: broadcast.State(res[1])}
	r.Recipient, err = decodeRecord(user, []byte(res[2]))
	return r, err
}

var completeScript = redis.NewScript(luaPrelude + `
return complete_if_done(tonumber(ARGV[1]))
`)

// CompleteIfDone completes the broadcast if it is expanded and every
// recipient is final: after a replay that reopened nobody.
func (s *Store) CompleteIfDone(ctx context.Context, id string) error {
	if err := completeScript.Run(ctx, s.rdb, s.keysOf(id).script(), s.nowMS()).Err(); err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	return nil
}
