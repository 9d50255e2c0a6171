package dispatch

import (
	"context"
	"errors"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// ClaimOnly does what CreateOnce does up to the claim of the key, and
// stops there: a create that died before writing its broadcast. It returns
// the id the key now names.
func (d *Dispatcher) ClaimOnly(ctx context.Context, req *broadcast.CreateRequest, key string) (string, error) {
	b, activity, err := d.prepare(req)
	if err != nil {
		return "", err
	}
	_, fresh, err := d.store.ClaimIdempotencyKey(ctx, idemKey(b, key), b.ID, requestHash(b, activity), d.cfg.IdempotencyTTL)
	if err != nil {
		return "", err
	}
	if !fresh {
		return "", errors.New("the key was claimed already")
	}
	return b.ID, nil
}

// Prepare is the validation Create does before it writes anything.
func (d *Dispatcher) Prepare(req *broadcast.CreateRequest) (*broadcast.Broadcast, []byte, error) {
	return d.prepare(req)
}

// OnReplayedOne calls f after each recipient a replay queues.
func (d *Dispatcher) OnReplayedOne(f func()) { d.replayedOne = f }

// OnPageRead calls f before the expansion reads each page of an audience,
// with the page's cursor; an error fails the read.
func (d *Dispatcher) OnPageRead(f func(cursor string) error) { d.pageRead = f }

// OnLeaseRenewal calls f before each renewal of an expansion lease; false
// skips the renewal, as a frozen process would.
func (d *Dispatcher) OnLeaseRenewal(f func() bool) { d.renewLease = f }
