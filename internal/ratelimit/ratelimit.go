// Package ratelimit paces the requests of one process to each tenant and
// makes every request to a tenant wait while the tenant is paused by a 429.
//
// A Gate combines a token bucket (golang.org/x/time/rate) at the tenant's
// rate with a pause: when Teams answers 429 with Retry-After, Pause records
// the end of the wait locally and in the shared store, so that no goroutine
// of this process, and no other sender process once it has read the store,
// sends to the tenant before the Retry-After has passed.
package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// PauseStore shares tenant pauses between processes.
type PauseStore interface {
	SetPause(ctx context.Context, tenant string, until time.Time) error
	PausedUntil(ctx context.Context, tenant string) (time.Time, error)
}

// Tenants hands out one Gate per tenant.
type Tenants struct {
	rps     float64
	store   PauseStore
	refresh time.Duration

	mu    sync.Mutex
	gates map[string]*Gate
}

// NewTenants returns gates that allow rps requests per second per tenant
// and read shared pauses from store at most every refresh.
func NewTenants(rps float64, store PauseStore, refresh time.Duration) *Tenants {
	return &Tenants{rps: rps, store: store, refresh: refresh, gates: make(map[string]*Gate)}
}

// For returns the tenant's gate.
func (t *Tenants) For(tenant string) *Gate {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.gates[tenant]
	if !ok {
		// Burst 1: requests leave evenly spaced, so no sliding one-second
		// window on the server side ever sees more than rps of them.
		g = &Gate{tenant: tenant, limiter: rate.NewLimiter(rate.Limit(t.rps), 1), store: t.store, refresh: t.refresh}
		t.gates[tenant] = g
	}
	return g
}

// Gate paces the requests to one tenant.
type Gate struct {
	tenant  string
	limiter *rate.Limiter
	store   PauseStore
	refresh time.Duration

	pausedUntil atomic.Int64 // Unix ns
	lastRead    atomic.Int64 // Unix ns of the last read of the shared pause
}

// Wait blocks until a request to the tenant may leave: the tenant is not
// paused and the rate allows it. Call it right before each request.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		if err := g.waitPause(ctx); err != nil {
			return err
		}
		if err := g.limiter.Wait(ctx); err != nil {
			return err
		}
		// A 429 may have arrived while we waited for the limiter.
		if g.Remaining() <= 0 {
			return nil
		}
	}
}

func (g *Gate) waitPause(ctx context.Context) error {
	g.readShared(ctx)
	for {
		d := g.Remaining()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// readShared refreshes the pause from the store, at most every refresh and
// by one goroutine at a time; a failed read keeps the local value.
func (g *Gate) readShared(ctx context.Context) {
	if g.store == nil {
		return
	}
	now := time.Now().UnixNano()
	last := g.lastRead.Load()
	if now-last < int64(g.refresh) || !g.lastRead.CompareAndSwap(last, now) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if until, err := g.store.PausedUntil(rctx, g.tenant); err == nil {
		g.extend(until)
	}
}

// Remaining is how long the tenant stays paused (<= 0 when not paused).
func (g *Gate) Remaining() time.Duration {
	return time.Duration(g.pausedUntil.Load() - time.Now().UnixNano())
}

// Pause stops every request to the tenant for d, here and, through the
// store, in every other process. A pause is only ever extended.
func (g *Gate) Pause(ctx context.Context, d time.Duration) error {
	until := time.Now().Add(d)
	g.extend(until)
	if g.store == nil {
		return nil
	}
	return g.store.SetPause(ctx, g.tenant, until)
}

func (g *Gate) extend(until time.Time) {
	u := until.UnixNano()
	for {
		cur := g.pausedUntil.Load()
		if u <= cur || g.pausedUntil.CompareAndSwap(cur, u) {
			return
		}
	}
}
