package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/retry"
)

// A call of the API that changes a broadcast (create and its claim of an
// Idempotency-Key, cancel, replay, edit, recall) must never answer an
// error and take effect later: a
// client retrying the error would do it twice. A write whose answer is
// lost (Redis stalled, the connection cut) may still be in a socket and
// run when Redis comes back, so each such write is a fenced script:
//
//   - the call reads Redis's clock (TIME) first and passes a deadline,
//     that time plus Fence.Window, with a token of its own; the script
//     compares the deadline with Redis's clock and does nothing after it
//     (FENCED), so a write stuck in a socket cannot land later;
//   - a script that ran records its answer under the token (in the
//     broadcast's {b:<id>}:ops hash, or the Idempotency-Key's own hash,
//     for at least ten minutes), so a second run of
//     the same call (go-redis sends a timed-out command again) answers what
//     the first run did instead of running twice;
//   - when the answer is lost, the call asks Redis for the token's record
//     with bounded, jittered backoff within Fence.Budget: found, it ran (and
//     its recorded answer is the call's); absent once Redis's clock is past
//     the deadline, it did not run and never will (ErrNotApplied); Redis
//     silent to the end, the outcome is unknown
//     (*broadcast.OutcomeUnknownError, which says the deadline).

// Fence bounds the state-changing scripts the API runs.
type Fence struct {
	// Window is how long after the call read Redis's clock its script may
	// still run; a script reaching Redis later does nothing.
	Window time.Duration
	// Budget is how long a call whose answer was lost keeps asking Redis
	// whether its script ran, from the start of the call.
	Budget time.Duration
}

// DefaultFence: a script normally runs within milliseconds of the clock's
// read, and 2 s covers a pause of Redis's (a fork, a slow AOF fsync) too;
// 15 s of asking covers the stalls seen (a Redis stopped for 8-10 s) and
// keeps the API's answer well within a client's usual 30 s timeout.
var DefaultFence = Fence{Window: 2 * time.Second, Budget: 15 * time.Second}

// WithFence returns the store with other fence times (tests).
func (s *Store) WithFence(f Fence) *Store {
	c := *s
	c.fence = f
	return &c
}

// ErrNotApplied says that a fenced call certainly did not take effect and
// never will: Redis answered that it came after its deadline, or had no
// record of it once its deadline had passed.
var ErrNotApplied = errors.New("not applied: the store did not take the write in time")

// fenceRecordTTL keeps a call's recorded answer beyond any search for it:
// a record hash's TTL is raised to it (an Idempotency-Key's day stays).
const fenceRecordTTL = 10 * time.Minute

// fenceLua ends every fenced script. The script's body defines
// apply(), which must not look at the last KEYS or the last two ARGV:
// KEYS[#KEYS] is the record hash, ARGV[#ARGV-1] the call's token,
// ARGV[#ARGV] its deadline (Redis ms). apply's answer must be plain values
// (numbers, strings, arrays of them): it is recorded as JSON.
var fenceLua = `
local fence_key, fence_token, fence_deadline = KEYS[#KEYS], 'op:' .. ARGV[#ARGV - 1], tonumber(ARGV[#ARGV])
local fence_done = redis.call('HGET', fence_key, fence_token)
if fence_done then return cjson.decode(fence_done) end
local fence_t = redis.call('TIME')
if tonumber(fence_t[1]) * 1000 + math.floor(tonumber(fence_t[2]) / 1000) > fence_deadline then
  return redis.error_reply('FENCED the write reached the store after its deadline')
end
local fence_out = apply()
redis.call('HSET', fence_key, fence_token, cjson.encode(fence_out))
if redis.call('PTTL', fence_key) < ` + itoa(int(fenceRecordTTL.Milliseconds())) + ` then
  redis.call('PEXPIRE', fence_key, ` + itoa(int(fenceRecordTTL.Milliseconds())) + `)
end
return fence_out
`

// fencedScript is a script of body (Lua that defines local function
// apply()) that runs under a fence.
func fencedScript(body string) *redis.Script { return redis.NewScript(body + fenceLua) }

// probeScript asks whether the call with token ARGV[1] ran. KEYS: the
// record hash. Returns {Redis's clock (ms), 1, the call's answer} if it
// did, else {Redis's clock, 0}.
var probeScript = redis.NewScript(redisNowMS + `
local done = redis.call('HGET', KEYS[1], 'op:' .. ARGV[1])
if done then return {now, 1, cjson.decode(done)} end
return {now, 0}
`)

// fenced runs script under a fence for the call op of broadcast id; keys
// and args are the script's own, fkey its record hash. It returns the
// script's answer, or an error: ErrNotApplied (wrapped), a
// *broadcast.OutcomeUnknownError, a reply error of the script, or the
// clock's read failing (nothing was sent).
func (s *Store) fenced(ctx context.Context, op, id string, script *redis.Script, fkey string, keys []string, args ...any) (any, error) {
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, s.fence.Window)
	now, err := s.rdb.Time(tctx).Result()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the store's clock: %w", op, id, err)
	}
	deadline := now.Add(s.fence.Window).UnixMilli()
	token := uuid.NewString()
	keys = append(keys[:len(keys):len(keys)], fkey)
	args = append(args[:len(args):len(args)], token, deadline)
	// Bounded by the window: a retry of go-redis's after it is refused
	// anyway, and the search below is what tells.
	wctx, cancel := context.WithTimeout(ctx, s.fence.Window)
	res, err := script.Run(wctx, s.rdb, keys, args...).Result()
	cancel()
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return res, nil
	case isFenced(err):
		return nil, fmt.Errorf("%s %s: %w", op, id, ErrNotApplied)
	case isReply(err):
		return nil, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return s.findOut(ctx, op, id, fkey, token, deadline, start.Add(s.fence.Budget))
}

// findOut asks Redis, until the time until, whether the fenced call with
// token ran.
func (s *Store) findOut(ctx context.Context, op, id, fkey, token string, deadline int64, until time.Time) (any, error) {
	ctx = context.WithoutCancel(ctx) // the answer, and the audit, need the outcome
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := probeScript.Run(pctx, s.rdb, []string{fkey}, token).Slice()
		cancel()
		if err == nil && len(res) >= 2 {
			if asInt(res[1]) == 1 && len(res) == 3 {
				return res[2], nil
			}
			if asInt(res[0]) > deadline {
				return nil, fmt.Errorf("%s %s: %w", op, id, ErrNotApplied)
			}
			// Not run yet, and it may still: wait for the deadline.
		}
		wait := probePolicy.Delay(try)
		if time.Now().Add(wait).After(until) {
			return nil, &broadcast.OutcomeUnknownError{Op: op, BroadcastID: id, NotAfter: time.UnixMilli(deadline).UTC()}
		}
		_ = retry.Sleep(ctx, wait) // ctx does not end: the answer needs the outcome
	}
}

// probePolicy spaces findOut's questions; its budget bounds them.
var probePolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}

// isFenced reports whether err is a fenced script's refusal.
func isFenced(err error) bool { return isReply(err) && strings.HasPrefix(err.Error(), "FENCED") }

// isReply reports whether err is an answer of Redis's (the command was
// taken and refused, or the script failed), not a failure to get one.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
