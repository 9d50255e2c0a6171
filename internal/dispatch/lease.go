package dispatch

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/store"
)

// Every dispatcher resumes the broadcasts registered for expansion, but
// one at a time expands each: the holder of its expansion lease (see
// store/expansion.go). The holder renews the lease every third of
// Config.ExpansionLease and releases it when it stops; the others find it
// held and leave the broadcast alone. A holder that dies (or freezes) is
// taken over once its lease runs out, at the next resume of another
// dispatcher (Config.ResumeEvery). A holder that finds its lease taken
// over, or cannot renew it for a whole lease, stops its expansion: its
// writes would be refused anyway (store.ErrLeaseLost).

// DefaultExpansionLease is how long an expansion outlives a dead holder
// before another dispatcher may take it over.
const DefaultExpansionLease = 6 * time.Second

// leaseReleaseTimeout bounds the release of a lease at the end of an expansion,
// which runs even when the dispatcher is shutting down.
const leaseReleaseTimeout = 2 * time.Second

// holdExpansion takes the broadcast's expansion lease. False if another
// dispatcher holds it. Else it returns a context cancelled (cause
// store.ErrLeaseLost) once the lease is lost, and the function that stops
// renewing and releases the lease.
func (d *Dispatcher) holdExpansion(ctx context.Context, id string, log *zap.Logger) (context.Context, func(), bool, error) {
	lease := d.cfg.ExpansionLease
	held, err := d.store.TakeExpansion(ctx, id, d.holder, lease)
	if err != nil || !held {
		return nil, nil, false, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if d.renewLease != nil && !d.renewLease() {
				continue // a test's frozen holder
			}
			err := d.store.RenewExpansion(ctx, id, d.holder, lease)
			switch {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, store.ErrLeaseLost):
				log.Warn("expansion lease lost; stopping")
				cancel(store.ErrLeaseLost)
				return
			case time.Since(renewed) >= lease:
				log.Warn("expansion lease not renewed for a whole lease; stopping", zap.Error(err))
				cancel(store.ErrLeaseLost)
				return
			}
		}
	}()
	release := func() {
		close(done)
		<-stopped
		cancel(nil)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), leaseReleaseTimeout)
		defer rcancel()
		if err := d.store.ReleaseExpansion(rctx, id, d.holder); err != nil {
			log.Warn("release the expansion lease; it runs out", zap.Error(err))
		}
	}
	return ctx, release, true, nil
}

// leaseLost returns store.ErrLeaseLost if ctx ended because the lease was
// lost, else err.
func leaseLost(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLeaseLost) {
		return cause
	}
	return err
}
