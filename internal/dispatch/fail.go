package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/directory"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/retry"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// An expansion that Graph stops ends the broadcast failed, never
// expanding for ever:
//
//   - a refusal (graph.Permanent: 400, 401 after a new token, 403, a 404
//     of anything but a group, ...) is tried PermanentTries times in all,
//     with a jittered backoff, then fails the broadcast at once;
//   - anything else Graph answers or does not (5xx, 429 and timeouts the
//     client already retried) leaves the expansion to be resumed, as any
//     error does, until it has made no progress (its resolution step and
//     cursor, its expansion cursor, the directory sync's next page) for
//     Config.ExpansionStall; then it fails.
//
// Errors of Redis or NATS do not count: they stop every broadcast alike,
// and the expansion resumes where it was once they pass.

// DefaultPermanentTries is how many times an expansion Graph refuses is
// tried: a refusal just after an admin grants a permission may not have
// reached every Graph replica.
const DefaultPermanentTries = 3

// DefaultExpansionStall is how long an expansion may keep failing on
// Graph without progress before its broadcast fails.
const DefaultExpansionStall = 30 * time.Minute

// graphCall is an error of a Graph call made by the expansion, with what
// it was for: the failed broadcast's error names both.
type graphCall struct {
	what string // e.g. "directory sync", "members of group <id>"
	err  error
}

func (e *graphCall) Error() string { return e.what + ": " + e.err.Error() }
func (e *graphCall) Unwrap() error { return e.err }

// inGraph marks err, from a Graph call made for what, as Graph's.
func inGraph(what string, err error) error {
	if err == nil {
		return nil
	}
	return &graphCall{what: what, err: err}
}

// summary is the broadcast's error: what Graph answered (status, code and
// message) and what it was asked for.
func (e *graphCall) summary() string {
	var ge *graph.Error
	if errors.As(e.err, &ge) {
		return fmt.Sprintf("Graph %s (%s)", ge.Error(), e.what)
	}
	return fmt.Sprintf("Graph request failed: %s (%s)", e.err.Error(), e.what)
}

// graphSource marks the directory sync's Graph errors as Graph's.
type graphSource struct{ Users }

func (g graphSource) UsersDelta(ctx context.Context, link string) (graph.DeltaPage, error) {
	p, err := g.Users.UsersDelta(ctx, link)
	return p, inGraph("directory sync", err)
}

// graphGroupSource is a graphSource whose Users list groups too.
type graphGroupSource struct {
	graphSource
	groups directory.GroupSource
}

func (g graphGroupSource) GroupsPage(ctx context.Context, next string) ([]graph.Group, string, error) {
	page, link, err := g.groups.GroupsPage(ctx, next)
	return page, link, inGraph("directory sync", err)
}

// runExpansion expands the broadcast, trying a refusal of Graph again
// a few times, and fails the broadcast when Graph will not let it finish.
func (d *Dispatcher) runExpansion(ctx context.Context, id string, log *zap.Logger) {
	for try := 1; ; try++ {
		err := d.expand(ctx, id, log)
		if err == nil || ctx.Err() != nil {
			return
		}
		var gc *graphCall
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			log.Warn("expansion stopped: another dispatcher holds it now", zap.Error(err))
			return
		case !errors.As(err, &gc):
			log.Error("expansion stopped; it resumes later", zap.Error(err))
			return
		case !graph.Permanent(err):
			d.noteStall(ctx, id, gc, log)
			return
		case try >= d.cfg.PermanentTries:
			d.fail(ctx, id, gc.summary(), log)
			return
		}
		delay := retry.Policy{Base: time.Second, Max: 10 * time.Second}.Delay(try)
		log.Warn("Graph refused the expansion; trying again", zap.Int("try", try), zap.Duration("delay", delay), zap.Error(err))
		if !sleep(ctx, delay) {
			return
		}
	}
}

// noteStall records a failure of Graph that may pass, and fails the
// broadcast once its expansion has been failing without progress for
// Config.ExpansionStall.
func (d *Dispatcher) noteStall(ctx context.Context, id string, gc *graphCall, log *zap.Logger) {
	pos, err := d.position(ctx, id)
	if err == nil {
		var since time.Time
		if since, err = d.store.ExpansionStalled(ctx, id, pos); err == nil {
			stalled := d.cfg.Now().Sub(since)
			if stalled >= d.cfg.ExpansionStall {
				d.fail(ctx, id, fmt.Sprintf("no progress for %s: %s", stalled.Round(time.Second), gc.summary()), log)
				return
			}
			log.Warn("Graph failed; the expansion resumes later", zap.Duration("stalled_for", stalled), zap.Error(gc))
			return
		}
	}
	log.Error("Graph failed; the expansion resumes later", zap.Error(gc), zap.NamedError("stall_error", err))
}

// position is where the expansion stands: a failure at another position
// than the last one made progress in between.
func (d *Dispatcher) position(ctx context.Context, id string) (string, error) {
	b, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return "", err
	}
	res, err := d.store.Resolution(ctx, id)
	if err != nil {
		return "", err
	}
	cursor, err := d.store.ExpansionCursor(ctx, id)
	if err != nil {
		return "", err
	}
	if b.LocalTime != nil {
		w, err := d.wavesPosition(ctx, id)
		if err != nil {
			return "", err
		}
		cursor += "\x00" + w
	}
	sync := ""
	if b.Audience.AllUsers {
		st, err := d.store.DirectorySync(ctx, b.TenantID)
		if err != nil {
			return "", err
		}
		sync = st.NextLink
	}
	return res.Step + "\x00" + res.Cursor + "\x00" + cursor + "\x00" + sync, nil
}

// fail ends the broadcast failed with msg. Recipients recorded before are
// swept to canceled first (see store.FailExpansion). If the record cannot
// be written, the broadcast stays registered and the next resume tries
// again.
func (d *Dispatcher) fail(ctx context.Context, id, msg string, log *zap.Logger) {
	st, err := d.store.FailExpansion(ctx, id, msg)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		log.Error("could not record the failed expansion; it resumes later", zap.String("error_recorded", msg), zap.Error(err))
		return
	}
	switch st {
	case broadcast.StatusFailed:
		log.Error("broadcast failed: Graph will not let its audience be expanded", zap.String("reason", msg))
	case broadcast.StatusCanceling:
		log.Error("broadcast failed: Graph will not let its audience be expanded; stopping the recipients recorded", zap.String("reason", msg))
		d.startSweep(id)
	default:
		log.Info("expansion stopped: the broadcast is no longer expanding", zap.String("status", string(st)))
	}
}
