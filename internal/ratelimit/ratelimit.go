// Package ratelimit paces the requests to each tenant across every sender
// process, and stops them all while the tenant is paused by a 429.
//
// Each tenant has one budget in Redis: a request slot every 1/rate seconds
// (GCRA: the store keeps the time of the tenant's next free slot). Before each
// request a sender reserves the next slot with one script call and sleeps
// until it; so N processes together send at the tenant's rate, not N times
// it, and a process joining or leaving changes nothing. When Teams answers
// 429, Pause records the end of the Retry-After in the same place: no slot is
// handed out before it, and a sender whose slot was reserved earlier checks
// the pause again after sleeping. All times are Redis's clock.
//
// The rate adapts (AIMD, store.Adaptive). The configured rate is an upper
// bound; the real limit may be lower, and only 429s tell. The first 429 of
// a throttle episode multiplies the tenant's rate by 0.9 (not below 10% of
// the configured rate, or 1/s); the 429s of the requests that were in
// flight with it fall inside a hold of max(1 s, Retry-After) and count
// once. After 3 s without a 429 past the pause, the rate climbs back by 2%
// of the configured rate per second, up to the configured rate, never
// above. The learned rate is kept beside the budget in Redis, so every
// process of the tenant paces at it, and the climb is computed from
// elapsed Redis time inside the reserve script: nothing runs in the
// background, and a request still costs one script call.
//
// If Redis cannot be reached, a gate falls back to a token bucket of its own
// (golang.org/x/time/rate) at the rate it last learned from Redis (the
// configured rate at first), so a Redis outage slows nothing down and never
// stops sending; with several processes the tenant may then see more than
// its rate and answer 429, which pauses as usual.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/broadcast-dev/broadcast/internal/metrics"
)

// Shared is the tenants' budgets and pauses as every process sees them.
// Rates are requests per second: rps is the configured rate, and the
// answers carry the tenant's current (learned) rate.
type Shared interface {
	ReserveMargin(ctx context.Context, tenant string, rps float64, ahead, margin time.Duration) (Slot, error)
	Throttle(ctx context.Context, tenant string, d time.Duration, rps float64) (left time.Duration, rate float64, lowered bool, err error)
	PauseLeft(ctx context.Context, tenant string) (time.Duration, error)
}

// Slot is the shared budget's answer to a reservation.
type Slot struct {
	// Wait is how long after Clock the slot is due.
	Wait time.Duration
	// Clock is the shared store's clock when it handed the slot out.
	Clock time.Time
	// Rate is the tenant's current rate (requests/s).
	Rate float64
	// OK is false when the next slot was further ahead than allowed:
	// nothing was reserved.
	OK bool
}

// A job waiting for a tenant holds one of its worker's slots, which another
// tenant's job could use: so a gate waits inline only briefly and otherwise
// sends the job away to come back later.
const (
	// DefaultAhead bounds how far into the future a slot may be reserved.
	DefaultAhead = 2 * time.Second
	// MaxInlinePause is the longest pause a request waits out in place.
	MaxInlinePause = 250 * time.Millisecond
)

// Tenants hands out one Gate per tenant.
type Tenants struct {
	rps       float64
	shared    Shared
	ahead     time.Duration
	minMargin time.Duration
	log       *zap.Logger

	mu    sync.Mutex
	gates map[string]*Gate
}

// Option configures Tenants.
type Option func(*Tenants)

// WithLogger logs each time a 429 lowers a tenant's rate.
func WithLogger(log *zap.Logger) Option { return func(t *Tenants) { t.log = log } }

// WithAhead bounds how far ahead a gate books a slot (DefaultAhead if not
// given): a caller that has another route, or other work, asks only for
// the tenant's spare room with a short horizon.
func WithAhead(d time.Duration) Option { return func(t *Tenants) { t.ahead = d } }

// WithMinMargin sets the part of the margin between slots that covers what
// a process cannot observe, the network's jitter on the way to the
// service (default DefaultMinMargin).
func WithMinMargin(d time.Duration) Option { return func(t *Tenants) { t.minMargin = max(d, 0) } }

// NewTenants returns gates that allow at most rps requests per second per
// tenant in all processes together, less while 429s say the tenant's real
// limit is lower. A nil shared paces this process alone, at rps.
func NewTenants(rps float64, shared Shared, opts ...Option) *Tenants {
	t := &Tenants{rps: rps, shared: shared, ahead: DefaultAhead, minMargin: DefaultMinMargin, log: zap.NewNop(), gates: make(map[string]*Gate)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// For returns the tenant's gate.
func (t *Tenants) For(tenant string) *Gate {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.gates[tenant]
	if !ok {
		// Burst 1: requests leave evenly spaced, so no sliding one-second
		// window on the server side sees more than rps of them.
		g = &Gate{tenant: tenant, rps: t.rps, shared: t.shared, ahead: t.ahead, minMargin: t.minMargin, log: t.log, late: newLateness(),
			local: rate.NewLimiter(rate.Limit(t.rps), 1), sleep: sleep, metrics: metrics.ForTenant(tenant)}
		g.learned.Store(math.Float64bits(t.rps))
		g.metrics.Rate(t.rps)
		t.gates[tenant] = g
	}
	return g
}

// LogStats logs, per tenant, the slots let go for a late wake and those
// taken from the fallback bucket: signs of a loaded host or an absent Redis.
func (t *Tenants) LogStats() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tenant, g := range t.gates {
		t.log.Info("tenant gate", zap.String("tenant_id", tenant), zap.Int64("missed_slots", g.Missed()),
			zap.Int64("fallback_slots", g.Fallbacks()), zap.Float64("rps", g.Rate()), zap.Duration("margin", g.Margin()),
			zap.Duration("late_quantile", g.late.quantile()))
	}
}

// Gate paces the requests to one tenant.
type Gate struct {
	tenant    string
	rps       float64 // configured
	shared    Shared
	ahead     time.Duration
	minMargin time.Duration
	local     *rate.Limiter
	log       *zap.Logger
	late      *lateness
	clock     storeClock
	// metrics: the tenant's 429s, pauses and rate.
	metrics *metrics.Tenant

	pausedUntil atomic.Int64  // Unix ns, this process's view
	learned     atomic.Uint64 // float64 bits: the tenant's rate as last read from the store
	fallbacks   atomic.Int64
	missed      atomic.Int64
	freshPause  atomic.Bool // a ticket's 429 began the pause Pause is about to share

	sleep func(ctx context.Context, d time.Duration) error // the package's sleep; tests oversleep
}

// A request that leaves later than its slot lands beside the requests of
// the next slots, and a limit counted over a sliding second sees the
// bunch: at exactly the limit, any request later than the one n slots
// before it is refused. So n slots span 1 s plus a margin: the lateness
// this process observes (a high quantile over its recent requests, see
// lateness) plus minMargin for what it cannot observe, and a caller woken
// later than the observed part lets its slot go and takes a new one, at
// most maxMissed times in a row, rather than send into the bunch.
const (
	// DefaultMinMargin covers what no client can measure: the network's
	// jitter on the way to the service and the service's own queueing
	// before it counts the request (a few ms on a loaded host). 99% of
	// the limit; a 429 widens the margin further (store.Adaptive).
	DefaultMinMargin = 10 * time.Millisecond
	// MaxMargin bounds the margin: the rate stays at least 97% of the
	// limit however late this machine is.
	MaxMargin = 30 * time.Millisecond
	maxMissed = 2
)

// tolerance is how late a request may leave its slot: the part of the
// margin that covers this process's own lateness. On a machine so loaded
// that the quantile is above what the margin may cover, more slots are
// let go rather than sent into a 429.
func (g *Gate) tolerance() time.Duration {
	return max(g.Margin()-g.minMargin, time.Millisecond)
}

// Margin is how much longer than 1 s this process makes n slots last.
func (g *Gate) Margin() time.Duration {
	return min(MaxMargin, g.minMargin+g.late.quantile())
}

// BacklogError says the tenant cannot take a request for Wait (it is paused,
// or its budget is booked that far ahead): longer than a job should wait
// holding a worker. Put the job back for Wait.
type BacklogError struct {
	Wait   time.Duration
	Paused bool
}

func (e *BacklogError) Error() string {
	if e.Paused {
		return fmt.Sprintf("tenant paused for %s", e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("tenant budget booked %s ahead", e.Wait.Round(time.Millisecond))
}

// Wait blocks until a request to the tenant may leave: the tenant is not
// paused and its next slot has come. Call it right before each request;
// Take does the same and lets the request check the pause again right
// before it is written.
func (g *Gate) Wait(ctx context.Context) error {
	t, err := g.take(ctx, true)
	if err == nil {
		t.Wrote() // as far as this gate can tell
	}
	return err
}

// WaitWithin is Wait that sits out a pause or a booked budget of up to hold
// in place; a longer backlog is answered with a BacklogError, as by Wait.
// For callers that hold nothing another tenant needs while they wait.
func (g *Gate) WaitWithin(ctx context.Context, hold time.Duration) error {
	t, err := g.takeWithin(ctx, hold, true)
	if err == nil {
		t.Wrote()
	}
	return err
}

// Take waits as Wait does and returns the slot taken. Hand it to the
// request (teams.WithGuard): its Hold checks the pause right before the
// request is written, and its Wrote tells the gate how late the request
// left, which sets the margin between slots.
func (g *Gate) Take(ctx context.Context) (*Ticket, error) { return g.take(ctx, false) }

// take waits for a slot; shared says whether to look at the shared pause
// after sleeping for it (a ticket's Hold does, closer to the write).
func (g *Gate) take(ctx context.Context, shared bool) (*Ticket, error) {
	for {
		left := g.Remaining()
		if left > MaxInlinePause {
			return nil, &BacklogError{Wait: left, Paused: true}
		}
		if left > 0 {
			if err := g.sleep(ctx, left); err != nil {
				return nil, err
			}
		}
		due, queued, checked, err := g.slot(ctx)
		if err != nil {
			return nil, err
		}
		if shared && queued && g.shared != nil && time.Since(checked) > recheckAfter {
			// Another process may have been throttled while we slept.
			if left, err := g.shared.PauseLeft(ctx, g.tenant); err == nil {
				checked = time.Now()
				if left > 0 {
					g.extend(checked.Add(left))
				}
			}
		}
		if g.Remaining() <= 0 {
			return &Ticket{g: g, due: due, checked: checked}, nil
		}
	}
}

// TakeWithin is Take that sits out a backlog of up to hold, as WaitWithin.
func (g *Gate) TakeWithin(ctx context.Context, hold time.Duration) (*Ticket, error) {
	return g.takeWithin(ctx, hold, false)
}

func (g *Gate) takeWithin(ctx context.Context, hold time.Duration, shared bool) (*Ticket, error) {
	deadline := time.Now().Add(hold)
	for {
		t, err := g.take(ctx, shared)
		var backlog *BacklogError
		if !errors.As(err, &backlog) || time.Now().Add(backlog.Wait).After(deadline) {
			return t, err
		}
		if err := g.sleep(ctx, backlog.Wait); err != nil {
			return nil, err
		}
	}
}

// Ticket is a slot taken for one request.
type Ticket struct {
	g       *Gate
	due     time.Time
	checked time.Time // when the shared pause was last read; zero: not since the slot
	retaken bool      // Hold took a new slot for lateness once already
	once    sync.Once
}

// recheckAfter: a request whose last look at the shared pause is older
// than this when it is about to be written (a new connection, a slow
// token) looks again. A 429 reaches the other processes through Redis
// within about a millisecond, so this keeps them within a few of it.
const recheckAfter = 2 * time.Millisecond

// Hold returns once the request may be written: at once, unless the
// tenant was paused after the slot was taken (by this process, or by
// another one as the shared store tells); then it waits the pause out and
// takes a new slot, so that the requests held back do not leave together
// when it ends. A request that reaches its connection too late after its
// slot (see stale) takes a new slot too. It fails only when ctx ends first (or the tenant's backlog
// outlasts ctx): the request must not be written then. Call it as late as
// possible before the request is written (teams.WithGuard does, when the
// request has its connection).
func (t *Ticket) Hold(ctx context.Context) error {
	if !t.paused(ctx) && !t.stale() {
		return nil
	}
	hold := time.Minute
	if d, ok := ctx.Deadline(); ok {
		hold = time.Until(d)
	}
	n, err := t.g.takeWithin(ctx, hold, true)
	if err != nil {
		return err
	}
	t.due, t.checked = n.due, n.checked
	return nil
}

// stale reports whether the request would leave so long after its slot
// (a slow way to its connection: a dial, a token, a loaded host) that it
// lands among the next slots' requests, later than the gate's tolerance:
// then, as for a late wake (Gate.slot), the slot is let go and Hold takes
// a new one. Once per ticket: a request late again after that leaves.
func (t *Ticket) stale() bool {
	if t.retaken || t.due.IsZero() {
		return false
	}
	late := time.Since(t.due)
	if late <= t.g.tolerance() {
		return false
	}
	t.retaken = true
	t.g.late.add(late) // its request will tell only the new slot's lateness
	t.g.missed.Add(1)
	return true
}

// paused reports whether the tenant is paused, looking at the shared pause
// unless this ticket did a moment ago.
func (t *Ticket) paused(ctx context.Context) bool {
	g := t.g
	if g.Remaining() > 0 {
		return true
	}
	if g.shared == nil || time.Since(t.checked) <= recheckAfter {
		return false
	}
	left, err := g.shared.PauseLeft(ctx, g.tenant)
	if err != nil || left <= 0 {
		return false // Redis away: the local pause is all there is
	}
	g.extend(time.Now().Add(left))
	return true
}

// Wrote tells the gate the request was written now: how late it left is
// what the margin between slots follows. Only the first call counts.
func (t *Ticket) Wrote() {
	t.once.Do(func() { t.g.late.add(time.Since(t.due)) })
}

// Throttled holds this process's requests to the tenant back at once, for
// retryAfter (1 s, the Connector's least, when it gave none): the client
// calls it before the 429's connection can carry another request. Pause,
// which the caller still owes, shares the pause and learns from it.
func (t *Ticket) Throttled(retryAfter time.Duration) {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	if t.g.Remaining() <= 0 {
		t.g.freshPause.Store(true) // for Pause to count
	}
	t.g.extend(time.Now().Add(retryAfter))
}

// slot waits for the tenant's next slot and returns the time lateness is
// counted from, whether it had to wait, and when the shared store last
// read the tenant's pause (zero: not for this slot): the reservation
// itself did, as the store hands out no slot inside a pause, so a request
// that leaves within recheckAfter of it need not ask again. The slot is due at a time of
// the store's clock, which this gate's clock maps to its own (see
// storeClock) within a small uncertainty; lateness is counted from the
// earliest the slot may be due, so that the margin covers that
// uncertainty too.
func (g *Gate) slot(ctx context.Context) (time.Time, bool, time.Time, error) {
	for missed := 0; g.shared != nil; missed++ {
		asked := time.Now()
		s, err := g.shared.ReserveMargin(ctx, g.tenant, g.rps, g.ahead, g.Margin())
		if err == nil {
			g.learn(s.Rate)
		}
		switch {
		case err == nil && !s.OK:
			return time.Time{}, false, time.Time{}, &BacklogError{Wait: s.Wait}
		case err == nil:
			due, unsure := g.clock.local(asked, time.Now(), s.Clock, s.Clock.Add(s.Wait))
			from := due.Add(-unsure)
			if time.Until(due) <= 0 {
				return from, false, asked, nil
			}
			if err := g.sleep(ctx, time.Until(due)); err != nil {
				return due, true, time.Time{}, err
			}
			late := time.Since(from)
			if late <= g.tolerance() || missed == maxMissed {
				return from, true, asked, nil
			}
			g.late.add(late) // its request will not tell
			g.missed.Add(1)
			continue
		case ctx.Err() != nil:
			return time.Time{}, false, time.Time{}, ctx.Err()
		}
		g.fallbacks.Add(1)
		break
	}
	r := g.local.Reserve()
	wait := r.Delay()
	if err := sleep(ctx, wait); err != nil {
		r.Cancel()
		return time.Time{}, false, time.Time{}, err
	}
	return time.Now(), wait > 0, time.Time{}, nil
}

// learn keeps the tenant's current rate for the fallback bucket, so that a
// Redis outage goes on at the rate the tenant was found to bear.
func (g *Gate) learn(rps float64) {
	if rps <= 0 || math.Float64bits(rps) == g.learned.Swap(math.Float64bits(rps)) {
		return
	}
	// The fallback bucket keeps the margin as the shared slots do.
	g.local.SetLimit(rate.Limit(rps / (1 + g.Margin().Seconds())))
	g.metrics.Rate(rps)
}

// Rate is the tenant's current rate (requests/s) as this process last
// learned it: the configured rate until a 429 lowered it.
func (g *Gate) Rate() float64 { return math.Float64frombits(g.learned.Load()) }

// Missed counts the slots this gate let go because it woke too late for
// them.
func (g *Gate) Missed() int64 { return g.missed.Load() }

// Fallbacks counts the slots this gate took from its own bucket because the
// shared budget could not be reached.
func (g *Gate) Fallbacks() int64 { return g.fallbacks.Load() }

// Remaining is how long the tenant stays paused (<= 0 when not paused), as
// this process knows it.
func (g *Gate) Remaining() time.Duration {
	return time.Duration(g.pausedUntil.Load() - time.Now().UnixNano())
}

// Pause stops every request to the tenant for d (a 429's Retry-After), here
// at once and, through the shared store, in every other process. A pause is
// only ever extended. Through the store the 429 also lowers the tenant's
// rate if it starts a new throttle episode.
func (g *Gate) Pause(ctx context.Context, d time.Duration) error {
	fresh := g.freshPause.Swap(false)
	g.metrics.Throttled(g.Remaining() <= 0 || fresh)
	g.extend(time.Now().Add(d))
	if g.shared == nil {
		return nil
	}
	left, cur, lowered, err := g.shared.Throttle(ctx, g.tenant, d, g.rps)
	if err != nil {
		return err
	}
	g.extend(time.Now().Add(left))
	g.learn(cur)
	if lowered {
		g.log.Info("tenant rate lowered after a 429", zap.String("tenant_id", g.tenant),
			zap.Float64("rps", cur), zap.Float64("configured_rps", g.rps))
	}
	return nil
}

func (g *Gate) extend(until time.Time) {
	u := until.UnixNano()
	for {
		cur := g.pausedUntil.Load()
		if u <= cur {
			return
		}
		if g.pausedUntil.CompareAndSwap(cur, u) {
			g.metrics.PausedUntil(until)
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
