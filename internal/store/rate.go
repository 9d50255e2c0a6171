package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/ratelimit"
)

// Adaptive is how a tenant's shared rate learns a real limit lower than the
// configured one from 429s (AIMD: additive increase, multiplicative
// decrease). The learned rate lives in Redis, so every process of the
// tenant paces at it; see docs/ARCHITECTURE.md for why these defaults.
type Adaptive struct {
	// Decrease multiplies the rate on a new throttle episode (1: never).
	Decrease float64
	// Floor is the lowest rate as a fraction of the configured one, but at
	// least MinRPS (and never above the configured rate).
	Floor  float64
	MinRPS float64
	// Hold: a 429 within max(Hold, its Retry-After) of the last decrease
	// belongs to the same episode (it was in flight when the limit
	// tripped) and does not decrease again.
	Hold time.Duration
	// Quiet is how long after the pause of the last 429 the rate stays
	// put before it probes back up.
	Quiet time.Duration
	// Probe is the climb per second while probing, as a fraction of the
	// configured rate; the rate never climbs above the configured one.
	Probe float64
	// Isolation: one 429 is no proof of a lower limit (a request that
	// left late, a loaded host, network jitter). A rate above the real
	// limit refills a one-second window within a second of resuming, so
	// it trips the limit again within about a second of each pause; so an
	// episode is a repeat, and lowers the rate, when it starts within
	// Isolation of the end of the previous episode's pause, or while the
	// rate is below the configured one (a limit already learned, tripped
	// again on the climb). Any other episode is isolated: it leaves the
	// rate alone and widens the margin between slots by Widen instead.
	// 0: every episode lowers the rate.
	Isolation time.Duration
	// Widen is added to the tenant's margin by an isolated episode; the
	// widening fades by WidenFade per second.
	Widen, WidenFade time.Duration
	// MaxMargin bounds the margin between slots: a process's own (from
	// the lateness it observes) plus the widening.
	MaxMargin time.Duration
}

// DefaultAdaptive: an isolated episode (more than 1.5 s after the last
// pause ended, at the configured rate) widens the margin by 5 ms, fading by 1 ms every 10 s, up to 30 ms (the
// rate at least 97% of the limit); x0.9 per repeated episode, floor 10%
// (at least 1/s), hold 1 s, probe +2%/s after 3 s without a 429.
var DefaultAdaptive = Adaptive{Decrease: 0.9, Floor: 0.1, MinRPS: 1, Hold: time.Second, Quiet: 3 * time.Second, Probe: 0.02,
	Isolation: 1500 * time.Millisecond, Widen: 5 * time.Millisecond, WidenFade: 100 * time.Microsecond, MaxMargin: 30 * time.Millisecond}

// WithAdaptive returns a Store on the same Redis whose tenant rates learn
// with a instead of DefaultAdaptive. Every process of a tenant should use
// the same a; tests use it to shorten the periods or to turn learning off.
func (s *Store) WithAdaptive(a Adaptive) *Store {
	c := *s
	c.adapt = a
	return &c
}

// fade is the widening's fade in µs per µs.
func fade(a Adaptive) float64 { return float64(a.WidenFade) / float64(time.Second) }

func (a Adaptive) floor(rps float64) float64 { return min(rps, max(a.MinRPS, a.Floor*rps)) }

// Reserve is ReserveMargin without a margin of the caller's own.
func (s *Store) Reserve(ctx context.Context, tenant string, rps float64, ahead time.Duration) (wait time.Duration, rate float64, ok bool, err error) {
	slot, err := s.ReserveMargin(ctx, tenant, rps, ahead, 0)
	return slot.Wait, slot.Rate, slot.OK, err
}

// ReserveMargin takes the tenant's next request slot, shared by every
// process: slots are spaced by the tenant's current rate (rps, the
// configured rate, unless 429s taught a lower one) and never inside a
// pause. n slots span 1 s plus a margin: the caller's (margin, from the
// lateness it observes) plus the tenant's widening after isolated 429s,
// at most Adaptive.MaxMargin. The answer says how long after Redis's clock
// read the slot is due, and the current rate. When the next slot is more
// than ahead away, nothing is reserved and OK is false: the caller should
// put its work back for later.
func (s *Store) ReserveMargin(ctx context.Context, tenant string, rps float64, ahead, margin time.Duration) (ratelimit.Slot, error) {
	a := s.adapt
	res, err := s.pipe.Run(ctx, reserveScript, []string{s.rateKey(tenant), s.pauseKey(tenant), s.aimdKey(tenant)},
		luaFloat(rps), ahead.Microseconds(), luaFloat(a.Probe), max(margin, 0).Microseconds(), a.MaxMargin.Microseconds(),
		luaFloat(fade(a))).Slice()
	if err != nil {
		return ratelimit.Slot{}, fmt.Errorf("reserve a slot of %s: %w", tenant, err)
	}
	if len(res) != 4 {
		return ratelimit.Slot{}, fmt.Errorf("reserve a slot of %s: unexpected answer %v", tenant, res)
	}
	wait, rate, err := waitAndRate(res[:3])
	if err != nil {
		return ratelimit.Slot{}, fmt.Errorf("reserve a slot of %s: %w", tenant, err)
	}
	clock, _ := res[3].(int64)
	return ratelimit.Slot{Wait: wait, Rate: rate, OK: res[1] == int64(1), Clock: time.UnixMicro(clock)}, nil
}

// Throttle records a 429 from the tenant: it stops every request to the
// tenant for d, counted on Redis's clock (a pause is only ever extended,
// never shortened) and, if the 429 starts a new throttle episode, lowers
// the tenant's rate (rps is the configured rate). It returns how long the tenant is now
// paused, its rate, and whether this 429 lowered it.
func (s *Store) Throttle(ctx context.Context, tenant string, d time.Duration, rps float64) (left time.Duration, rate float64, lowered bool, err error) {
	a := s.adapt
	res, err := throttleScript.Run(ctx, s.rdb, []string{s.pauseKey(tenant), s.aimdKey(tenant)},
		d.Microseconds(), luaFloat(rps), luaFloat(a.Decrease), luaFloat(a.floor(rps)),
		a.Hold.Microseconds(), a.Quiet.Microseconds(), luaFloat(a.Probe),
		a.Isolation.Microseconds(), a.Widen.Microseconds(), a.MaxMargin.Microseconds(), luaFloat(fade(a))).Slice()
	if err != nil {
		return 0, 0, false, fmt.Errorf("throttle tenant %s: %w", tenant, err)
	}
	left, rate, err = waitAndRate(res)
	if err != nil {
		return 0, 0, false, fmt.Errorf("throttle tenant %s: %w", tenant, err)
	}
	return left, rate, res[1] == int64(1), nil
}

// Budget is a tenant's shared request budget as every process sees it.
type Budget struct {
	// PausedFor is how long the tenant stays paused; <= 0 when it is not.
	PausedFor time.Duration
	// BookedAhead is how far ahead its slots are reserved; <= 0 when none is.
	BookedAhead time.Duration
	// RPS is the rate its slots are handed out at now, and ConfiguredRPS
	// the senders' TENANT_RPS; both 0 when no sender has paced the tenant
	// for a day.
	RPS, ConfiguredRPS float64
}

// Budget returns how long the tenant stays paused and how far ahead its
// shared request budget is booked (each <= 0 when it is not).
func (s *Store) Budget(ctx context.Context, tenant string) (pausedFor, bookedAhead time.Duration, err error) {
	b, err := s.TenantBudget(ctx, tenant)
	return b.PausedFor, b.BookedAhead, err
}

// TenantBudget returns the tenant's pause, booking and current rate.
func (s *Store) TenantBudget(ctx context.Context, tenant string) (Budget, error) {
	res, err := budgetScript.Run(ctx, s.rdb, []string{s.pauseKey(tenant), s.rateKey(tenant), s.aimdKey(tenant)},
		luaFloat(s.adapt.Probe)).Slice()
	if err != nil {
		return Budget{}, fmt.Errorf("read budget of %s: %w", tenant, err)
	}
	if len(res) != 4 {
		return Budget{}, fmt.Errorf("read budget of %s: unexpected answer %v", tenant, res)
	}
	b := Budget{PausedFor: micros(res[0]), BookedAhead: micros(res[1])}
	b.RPS, _ = strconv.ParseFloat(fmt.Sprint(res[2]), 64) // "" when unknown
	b.ConfiguredRPS, _ = strconv.ParseFloat(fmt.Sprint(res[3]), 64)
	return b, nil
}

func micros(v any) time.Duration {
	n, _ := v.(int64)
	return time.Duration(n) * time.Microsecond
}

// waitAndRate reads {µs, flag, rate} answers. Lua would truncate a number
// to an integer on its way out, so the rate comes back as a string.
func waitAndRate(res []any) (time.Duration, float64, error) {
	if len(res) != 3 {
		return 0, 0, fmt.Errorf("unexpected answer %v", res)
	}
	s, _ := res[2].(string)
	rate, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return micros(res[0]), rate, nil
}

// luaFloat passes a float so that the script reads back the same number.
func luaFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// luaRate defines how the scripts read the learned rate. KEYS[aimd] is a
// hash: rate (req/s) holds from the time of the last 429 until climb (µs),
// then rises by probe x cfg per second up to cfg; hold (µs) is when the
// current throttle episode ends; cfg is the configured rate the senders
// last reported, for readers that do not know it (the API). Times are
// Redis's clock. The climb is computed from elapsed time on every read, so
// no process has to run a loop to raise it.
const luaRate = `
local aimdTTL = 86400000
local function fmtRate(r) return string.format('%.17g', r) end
local function current(rate, climb, cfg, probe, now)
  rate, climb = tonumber(rate), tonumber(climb)
  if not rate or not climb then return cfg end
  if now > climb then rate = rate + (now - climb) / 1000000 * probe * cfg end
  return math.min(cfg, rate)
end
-- widening (µs) left of the last isolated episode's, fading by fade µs/µs
local function widening(w, at, fade, now)
  w, at = tonumber(w), tonumber(at)
  if not w or not at then return 0 end
  return math.max(0, w - (now - at) * fade)
end
`

// reserveScript hands out the tenant's next request slot (GCRA): slots are
// (1 s + margin)/rate apart, never before a pause ends, and at most ahead
// into the future; the margin is the caller's plus the widening, at most
// the max. KEYS: rate, pause, aimd. ARGV: configured rate (req/s), ahead
// (µs), probe, margin (µs), max margin (µs), fade. Returns {wait µs, 1,
// rate, now µs} for a reserved slot, {wait µs, 0, rate, now µs} when the
// next slot is further ahead than allowed (nothing reserved); now is
// Redis's clock, from which the caller's clock learns its offset.
// It writes the aimd hash only when it lacks this configured rate, so a
// request costs one read of it.
var reserveScript = redis.NewScript(luaNow + luaRate + `
local cfg, ahead, probe = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local a = redis.call('HMGET', KEYS[3], 'rate', 'climb', 'cfg', 'widen', 'widenat')
local margin = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) + widening(a[4], a[5], tonumber(ARGV[6]), now))
if tonumber(a[3]) ~= cfg then
  redis.call('HSET', KEYS[3], 'cfg', ARGV[1])
  redis.call('PEXPIRE', KEYS[3], aimdTTL)
end
local rate = current(a[1], a[2], cfg, probe, now)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0) or 0, tonumber(redis.call('GET', KEYS[2]) or 0) or 0)
if slot - now > ahead then return {slot - now, 0, fmtRate(rate), now} end
local nxt = slot + (1000000 + margin) / rate
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {slot - now, 1, fmtRate(rate), now}
`)

// throttleScript records a 429: it extends the pause (never shortens it)
// and, on a new episode, either widens the margin (an isolated episode:
// more than isolation after the previous pause ended, at the configured
// rate) or multiplies the rate by decrease (not below floor, never raising
// it). Every 429 restarts the quiet period: probing starts quiet after the
// pause ends; pend keeps when the pause ends, for the next episode to
// tell. KEYS: pause, aimd. ARGV: pause (µs), configured rate, decrease,
// floor (req/s), hold (µs), quiet (µs), probe, isolation (µs), widen (µs),
// max margin (µs), fade.
// Returns {pause left µs, 1 if this 429 lowered the rate else 0, rate}.
var throttleScript = redis.NewScript(luaNow + luaRate + `
local d, cfg, decrease, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hold, quiet, probe = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local isolation, widen, maxMargin, fade = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local untilus = now + d
local paused = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if untilus > paused then
  redis.call('SET', KEYS[1], string.format('%.0f', untilus), 'PX', math.ceil((untilus - now) / 1000) + 1000)
  paused = untilus
end
local a = redis.call('HMGET', KEYS[2], 'rate', 'climb', 'hold', 'pend', 'widen', 'widenat')
local rate = current(a[1], a[2], cfg, probe, now)
local lowered = 0
if now >= (tonumber(a[3]) or 0) then
  local pend = tonumber(a[4])
  if isolation > 0 and rate >= cfg and (not pend or now - pend > isolation) then
    local w = math.min(maxMargin, widening(a[5], a[6], fade, now) + widen)
    redis.call('HSET', KEYS[2], 'widen', string.format('%.0f', w), 'widenat', string.format('%.0f', now))
  else
    local before = rate
    rate = math.max(math.min(rate, floor), rate * decrease)
    if rate < before then lowered = 1 end
  end
  redis.call('HSET', KEYS[2], 'hold', string.format('%.0f', now + math.max(d, hold)))
end
redis.call('HSET', KEYS[2], 'rate', fmtRate(rate), 'climb', string.format('%.0f', paused + quiet), 'cfg', ARGV[2], 'pend', string.format('%.0f', paused))
redis.call('PEXPIRE', KEYS[2], aimdTTL)
return {paused - now, lowered, fmtRate(rate)}
`)

// budgetScript returns {pause left µs, booked ahead µs, rate, configured
// rate}; the rates are "" when unknown. KEYS: pause, rate, aimd. ARGV: probe.
var budgetScript = redis.NewScript(luaNow + luaRate + `
local a = redis.call('HMGET', KEYS[3], 'rate', 'climb', 'cfg')
local cfg = tonumber(a[3])
local rate, conf = '', ''
if cfg then
  rate, conf = fmtRate(current(a[1], a[2], cfg, tonumber(ARGV[1]), now)), a[3]
end
return {(tonumber(redis.call('GET', KEYS[1]) or 0) or 0) - now, (tonumber(redis.call('GET', KEYS[2]) or 0) or 0) - now, rate, conf}
`)
