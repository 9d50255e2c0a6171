package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// DefaultIdempotencyGrace is how long a claimed Idempotency-Key without a
// broadcast is left to the create holding it. A create writes in
// milliseconds; one that has not after 30 s has died (its write is bounded
// by a third of this), and a retry takes the key over.
const DefaultIdempotencyGrace = 30 * time.Second

// releaseTimeout bounds the release of a key after a failed write, which
// runs even when the request's context is done.
const releaseTimeout = 3 * time.Second

// CreateOnce is Create for a request carrying an Idempotency-Key (scoped
// to the broadcast's tenant and author: idemKey): the first request with
// the key creates the broadcast; a retry with the same request gets that
// broadcast back, replayed = true. It answers *broadcast.KeyReusedError
// for the key with a different request and *broadcast.KeyInProgressError
// while the broadcast the key names is still being written.
//
// The key is claimed before the broadcast is written, so that of two
// concurrent retries only one writes. A write that fails releases the key;
// a create that dies between the claim and the write leaves the key naming
// a broadcast that does not exist, and the first retry after the grace
// period writes it under that id.
func (d *Dispatcher) CreateOnce(ctx context.Context, req *broadcast.CreateRequest, key string) (b *broadcast.Broadcast, replayed bool, err error) {
	if err := broadcast.CheckIdempotencyKey(key); err != nil {
		return nil, false, err
	}
	b, activity, err := d.prepare(req)
	if err != nil {
		return nil, false, err
	}
	return d.once(ctx, b, key, requestHash(b, activity), func(fresh bool) error {
		if fresh {
			// sendAt's window is checked once the key is claimed: a retry of
			// a scheduled create gets its broadcast whenever it comes.
			if err := d.checkSchedule(ctx, b); err != nil {
				d.release(ctx, b, key)
				return err
			}
		}
		return d.recordClaimed(ctx, b, activity, key)
	})
}

// once claims key for b, a request whose hash is hash, and calls write
// (fresh: the key was claimed now, not taken over) to write it; a retry
// gets the broadcast the key names. write must release the key when it
// certainly wrote nothing (recordClaimed, release).
func (d *Dispatcher) once(ctx context.Context, b *broadcast.Broadcast, key, hash string, write func(fresh bool) error) (*broadcast.Broadcast, bool, error) {
	claim, fresh, err := d.store.ClaimIdempotencyKey(ctx, idemKey(b, key), b.ID, hash, d.cfg.IdempotencyTTL)
	if err != nil {
		return nil, false, err
	}
	if fresh {
		return b, false, write(true)
	}
	if claim.RequestHash != hash {
		return nil, false, &broadcast.KeyReusedError{BroadcastID: claim.BroadcastID, UsedAt: claim.CreatedAt}
	}
	if got, err := d.store.Broadcast(ctx, claim.BroadcastID); !errors.Is(err, store.ErrNotFound) {
		return got, err == nil, err
	}
	// Claimed, and no broadcast: its create is writing it now, or died.
	grace := d.cfg.IdempotencyGrace
	if claim.Age < grace {
		return nil, false, &broadcast.KeyInProgressError{BroadcastID: claim.BroadcastID, RetryAfter: retryAfter(grace - claim.Age)}
	}
	took, err := d.store.TakeOverIdempotencyKey(ctx, idemKey(b, key), claim.BroadcastID, grace)
	if err != nil {
		return nil, false, err
	}
	if !took { // another retry took it over an instant ago
		return nil, false, &broadcast.KeyInProgressError{BroadcastID: claim.BroadcastID, RetryAfter: time.Second}
	}
	d.log.Warn("re-creating a broadcast whose create stopped after claiming its idempotency key",
		zap.String("broadcast_id", claim.BroadcastID), zap.String("tenant_id", b.TenantID), zap.Duration("claimed_for", claim.Age))
	b.ID = claim.BroadcastID
	return b, false, write(false)
}

// recordClaimed writes a broadcast whose key is claimed, and releases the
// key if the broadcast is certainly not written. When its outcome is
// unknown the key stays: a retry finds the broadcast, or, after the grace
// period, takes the key over and writes it under the same id; the write
// it lost cannot land after its fence (store.Fence.Window, far shorter
// than the grace), and the create script leaves a written broadcast as it
// is, so the two can never make two broadcasts.
func (d *Dispatcher) recordClaimed(ctx context.Context, b *broadcast.Broadcast, activity []byte, key string) error {
	err := d.record(ctx, b, activity)
	var unknown *broadcast.OutcomeUnknownError
	if err != nil && !errors.As(err, &unknown) {
		d.release(ctx, b, key)
	}
	return err
}

// release forgets the key claimed for b, whose create wrote nothing.
func (d *Dispatcher) release(ctx context.Context, b *broadcast.Broadcast, key string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := d.store.ReleaseIdempotencyKey(rctx, idemKey(b, key), b.ID); err != nil {
		d.log.Warn("create failed; its idempotency key is kept until the grace period ends",
			zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID), zap.Error(err))
	}
}

// idemKey is where b's Idempotency-Key is kept: per tenant and per API
// key, so that another author's key of the same name is another key, and a
// reuse never answers with another author's broadcast.
func idemKey(b *broadcast.Broadcast, key string) store.IdempotencyKey {
	return store.IdempotencyKey{Tenant: b.TenantID, Actor: b.CreatedBy, Key: key}
}

// requestHash identifies a request as the broadcast it would create: the
// tenant (resolved, so a defaulted tenant and the same tenant named agree),
// the priority, the activity exactly as it would be posted (the card
// compacted), the audience's JSON after normalisation (ids lowercased,
// deduplicated, in request order: canonical) and the send time.
func requestHash(b *broadcast.Broadcast, activity []byte) string {
	h := sha256.New()
	for _, part := range []string{"v1", b.TenantID, string(b.Priority.OrNormal()), string(activity)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	raw, _ := json.Marshal(b.Audience)
	h.Write(raw)
	if b.LocalTime != nil {
		// Its sendAt is derived from the clock: the localTime is what was asked.
		h.Write([]byte("\x00localTime\x00" + *b.LocalTime))
	} else if b.SendAt != nil {
		h.Write([]byte("\x00sendAt\x00" + strconv.FormatInt(b.SendAt.UnixMilli(), 10)))
	}
	for _, r := range b.Reminders { // their ids are new on each try
		h.Write([]byte("\x00reminder\x00" + r.After + "\x00" + string(r.To)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reminderHash identifies a remind request: the original, whom it goes to
// and the activity. Not its recipients: they change as people engage, and
// a retry gets the reminder with those chosen the first time.
func reminderHash(b *broadcast.Broadcast, activity []byte) string {
	h := sha256.New()
	for _, part := range []string{"remind-v1", b.TenantID, b.ReminderOf, string(b.Reminder.To), string(activity)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// retryAfter is how long a client should wait before retrying a key in
// progress: the rest of the grace period, but at most 5 s (the create is
// usually about to finish) and at least 1 s.
func retryAfter(rest time.Duration) time.Duration {
	return min(max(rest, time.Second), 5*time.Second).Round(time.Second)
}
