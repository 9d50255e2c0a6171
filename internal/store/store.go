package store

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/autopipe"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// ErrNotFound is returned for an unknown broadcast or recipient.
var ErrNotFound = errors.New("not found")

// Store is the Redis-backed record of broadcasts, recipients, conversations
// and tenant pauses. It is safe for concurrent use.
type Store struct {
	// Keyspace builds every key, under the store's prefix.
	Keyspace
	rdb   redis.UniversalClient
	pipe  *autopipe.Pipe // the calls of every send: claim, slot, pause, record, renewals
	now   func() time.Time
	adapt Adaptive
	fence Fence
}

// Option adjusts a new Store.
type Option func(*Store)

// WithKeyspace puts every key under ks's prefix (REDIS_PREFIX).
func WithKeyspace(ks Keyspace) Option { return func(s *Store) { s.Keyspace = ks } }

// New returns a Store on rdb; without options its keys have no prefix.
func New(rdb redis.UniversalClient, options ...Option) *Store {
	s := &Store{rdb: rdb, pipe: autopipe.New(rdb), now: time.Now, adapt: DefaultAdaptive, fence: DefaultFence}
	for _, o := range options {
		o(s)
	}
	return s
}

// ConnectOption adjusts the client Connect makes (redisclient's options).
type ConnectOption = redisclient.Option

// WithTLS verifies a rediss URL's servers with tc's CAs and presents its
// client certificate (redisclient.WithTLS).
func WithTLS(tc *tls.Config) ConnectOption { return redisclient.WithTLS(tc) }

// Connect makes the client REDIS_URL names (one server, Sentinel or
// Cluster: see redisclient) and checks the server answers.
func Connect(ctx context.Context, url string, options ...ConnectOption) (redis.UniversalClient, error) {
	return redisclient.Connect(ctx, url, options...)
}

// Client returns the underlying Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

func (s *Store) nowMS() int64 { return s.now().UnixMilli() }

// Broadcast returns a broadcast with its current counters.
func (s *Store) Broadcast(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	hashes, err := s.readBroadcast(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read broadcast %s: %w", id, err)
	}
	m, counts, edit, recall := hashes[0], hashes[1], hashes[2], hashes[3]
	if len(m) == 0 {
		return nil, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	b := &broadcast.Broadcast{ID: id, TenantID: m["tenant"], Status: broadcast.Status(m["status"]),
		Priority: broadcast.Priority(m["priority"]).OrNormal(), Error: m["error"]}
	if err := json.Unmarshal([]byte(m["message"]), &b.Message); err != nil {
		return nil, fmt.Errorf("broadcast %s: decode message: %w", id, err)
	}
	if err := json.Unmarshal([]byte(m["audience_spec"]), &b.Audience); err != nil {
		return nil, fmt.Errorf("broadcast %s: decode audience: %w", id, err)
	}
	if err := s.readResolution(ctx, b, m); err != nil {
		return nil, err
	}
	b.CreatedAt = msTime(m["created_at"])
	for _, f := range []struct {
		field string
		to    **time.Time
	}{{"completed_at", &b.CompletedAt}, {"canceled_at", &b.CanceledAt}} {
		if v := m[f.field]; v != "" {
			t := msTime(v)
			*f.to = &t
		}
	}
	b.Counts = parseCounts(counts)
	b.Replays, _ = strconv.Atoi(m["replays"])
	readScheduleFields(b, m)
	readApprovalFields(b, m)
	readReminderFields(b, m)
	b.Edit, b.Recall = parseProgress(edit), parseProgress(recall)
	return b, nil
}

func parseCounts(m map[string]string) broadcast.Counts {
	var c broadcast.Counts
	c.Total, _ = strconv.ParseInt(m["total"], 10, 64)
	c.PossibleDuplicates, _ = strconv.ParseInt(m["possible_duplicates"], 10, 64)
	c.Replayed, _ = strconv.ParseInt(m["replayed"], 10, 64)
	for _, st := range broadcast.States {
		n, _ := strconv.ParseInt(m[string(st)], 10, 64)
		c.Set(st, n)
	}
	return c
}

func msTime(s string) time.Time {
	ms, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(ms).UTC()
}

// Activity returns the Connector activity every recipient of the broadcast gets.
func (s *Store) Activity(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, s.keysOf(id).meta, "activity").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read activity of %s: %w", id, err)
	}
	return b, nil
}

// Expanding lists the broadcasts whose expansion has not finished.
func (s *Store) Expanding(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.Key(keyExpanding), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list expanding broadcasts: %w", err)
	}
	return ids, nil
}

// FinishExpansion marks every recipient of the broadcast as known and
// unregisters it from expansion. It reports whether the broadcast completed.
func (s *Store) FinishExpansion(ctx context.Context, id string) (bool, error) {
	k := s.keysOf(id)
	res, err := finishScript.Run(ctx, s.rdb, k.script(), s.nowMS()).Int()
	if err != nil {
		return false, fmt.Errorf("finish expansion of %s: %w", id, err)
	}
	if err := s.rdb.ZRem(ctx, s.Key(keyExpanding), id).Err(); err != nil {
		return false, fmt.Errorf("unregister expansion of %s: %w", id, err)
	}
	if res < 0 {
		return false, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	return res == 1, nil
}

// ForgetStale unregisters a broadcast id that has no record, if it was
// registered longer than grace ago. A younger one may be a broadcast whose
// record is being written right now (it is registered first): it stays.
func (s *Store) ForgetStale(ctx context.Context, id string, grace time.Duration) error {
	before := s.now().Add(-grace).UnixMilli()
	if err := forgetScript.Run(ctx, s.rdb, []string{s.Key(keyExpanding)}, id, before).Err(); err != nil {
		return fmt.Errorf("unregister %s: %w", id, err)
	}
	return nil
}

// Finished reports whether a broadcast has ended (completed, canceled or failed)
// with no edit or recall of it running, or has no record at all: nothing
// more will be done for it.
func (s *Store) Finished(ctx context.Context, id string) (bool, error) {
	st, running, err := s.statusAndChanges(ctx, id)
	if errors.Is(err, redis.Nil) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read status of %s: %w", id, err)
	}
	return broadcast.Status(st).Ended() && !running, nil
}

// ErrCanceled is returned when work is refused because the broadcast is
// canceled.
var ErrCanceled = errors.New("broadcast canceled")
