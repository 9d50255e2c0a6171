package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The registries (keys.go: broadcasts, the tenants' lists, expanding,
// scheduled, pending_approval, canceling, changing) are keys of their own,
// each in its own slot on Redis Cluster, so no script that changes a
// broadcast writes them: a script keeps to the broadcast's {b:<id>} keys.
// The status in the broadcast's meta is the truth; a registry only says
// where to look, and the order of the steps keeps it a superset:
//
//   - an operation adds the broadcast to a registry before the script that
//     may move it there (create: its lists and its first registry; cancel,
//     recall and a failed expansion: canceling; an edit or recall:
//     changing), or, when the broadcast already waits in a registry whose
//     reader settles it (scheduled, pending_approval), after;
//   - it removes the broadcast from the registry it left after the script.
//
// A process that dies between the steps leaves an entry too many, never
// one too few, and each registry's reader checks the status: an entry that
// does not match is settled (moved to the registry of the status it has)
// or, once older than registryGrace, forgotten. An entry younger than that
// may belong to an operation whose script is about to run.
const registryGrace = time.Minute

// registration is one broadcast's entry in a registry.
type registration struct {
	key   string
	score int64
}

// register adds id to registries, one pipelined ZADD each (they are in
// different slots: not a transaction, and each is idempotent).
func (s *Store) register(ctx context.Context, id string, regs ...registration) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range regs {
			p.ZAdd(ctx, r.key, redis.Z{Score: float64(r.score), Member: id})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("register %s: %w", id, err)
	}
	return nil
}

// unregister removes id from registries.
func (s *Store) unregister(ctx context.Context, id string, keys ...string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.ZRem(ctx, k, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unregister %s: %w", id, err)
	}
	return nil
}

// forget removes member from the registry key if its score is below
// before: a newer registration stays.
func (s *Store) forget(ctx context.Context, key, member string, before time.Time) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{key}, member, before.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("unregister %s: %w", member, err)
	}
	return nil
}

// settle moves a broadcast found in the registry from, which its status no
// longer matches, to the registry of that status: a scheduled one to
// broadcasts:scheduled (by sendAt), an expanding one to
// broadcasts:expanding; then it leaves from. It repairs a start or an
// approval whose process died between its script and its registration.
// A broadcast without a record leaves from once registered there longer
// than registryGrace ago (by score: both registries it settles are
// scored by a time at or after the registration).
func (s *Store) settle(ctx context.Context, id, from string, status broadcast.Status, sendAt string) error {
	switch status {
	case "":
		return s.forget(ctx, from, id, s.now().Add(-registryGrace))
	case broadcast.StatusScheduled:
		at, _ := strconv.ParseInt(sendAt, 10, 64)
		if err := s.register(ctx, id, registration{s.Key(keyScheduled), at}); err != nil {
			return err
		}
	case broadcast.StatusExpanding:
		// NX: an expansion registered already keeps its time.
		if err := s.rdb.ZAddNX(ctx, s.Key(keyExpanding), redis.Z{Score: float64(s.nowMS()), Member: id}).Err(); err != nil {
			return fmt.Errorf("register the expansion of %s: %w", id, err)
		}
	}
	return s.unregister(ctx, id, from)
}

// ForgetCanceling unregisters a broadcast from the cancel sweeps if it was
// registered longer than registryGrace ago: the sweep found it neither
// canceling nor ended by a cancel, so the cancel that registered it did
// not apply (or was too late).
func (s *Store) ForgetCanceling(ctx context.Context, id string) error {
	return s.forget(ctx, s.Key(keyCanceling), id, s.now().Add(-registryGrace))
}
