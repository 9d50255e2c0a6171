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

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// ErrNotFound is returned for an unknown broadcast or recipient.
var ErrNotFound = errors.New("not found")

// Store is the Redis-backed record of broadcasts, recipients, conversations
// and tenant pauses. It is safe for concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	now   func() time.Time
	adapt Adaptive
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, now: time.Now, adapt: DefaultAdaptive}
}

// ConnectOption adjusts the client Connect makes.
type ConnectOption func(*redis.Options)

// WithTLS verifies a rediss:// server with tc's CAs and presents its client
// certificate; the server name stays the URL's host. A nil tc changes
// nothing.
func WithTLS(tc *tls.Config) ConnectOption {
	return func(o *redis.Options) {
		if tc == nil || o.TLSConfig == nil {
			return
		}
		c := tc.Clone()
		c.ServerName = o.TLSConfig.ServerName
		o.TLSConfig = c
	}
}

// Connect parses a redis:// or rediss:// URL, applies timeouts and checks the
// server answers.
func Connect(ctx context.Context, url string, options ...ConnectOption) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	for _, o := range options {
		o(opts)
	}
	opts.DialTimeout = 5 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	opts.MaxRetries = 3
	opts.MinRetryBackoff = 50 * time.Millisecond
	opts.MaxRetryBackoff = time.Second
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

// Client returns the underlying Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

func (s *Store) nowMS() int64 { return s.now().UnixMilli() }

// CreateBroadcast records a new broadcast, its ready-to-send activity and, for
// an explicit audience, its user list. The broadcast is registered for
// expansion first, so a crash half-way leaves nothing a resumer cannot clean.
func (s *Store) CreateBroadcast(ctx context.Context, b *broadcast.Broadcast, activity []byte) error {
	k := keysOf(b.ID)
	msg, err := json.Marshal(b.Message)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	// The audience is resolved into a set first (audience.go); its spec
	// keeps the small parts, its lists the long ones.
	spec, err := json.Marshal(broadcast.Audience{AllUsers: b.Audience.AllUsers, IncludeGuests: b.Audience.IncludeGuests,
		GroupIDs: b.Audience.GroupIDs, Exclude: broadcast.Exclusion{GroupIDs: b.Audience.Exclude.GroupIDs}})
	if err != nil {
		return fmt.Errorf("encode audience: %w", err)
	}
	a := audienceKeysOf(b.ID)
	// A scheduled broadcast is registered for its start in the same
	// transaction as its record (see scheduleFields); the others for
	// expansion first.
	scheduled := b.Status == broadcast.StatusScheduled
	if scheduled && b.SendAt == nil {
		return fmt.Errorf("create broadcast %s: scheduled without a sendAt", b.ID)
	}
	if !scheduled {
		if err := s.rdb.ZAdd(ctx, keyExpanding, redis.Z{Score: float64(s.nowMS()), Member: b.ID}).Err(); err != nil {
			return fmt.Errorf("register broadcast %s: %w", b.ID, err)
		}
	}
	status := broadcast.StatusExpanding
	if scheduled {
		status = broadcast.StatusScheduled
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k.all()...)
		p.HSet(ctx, k.meta, append([]any{"id", b.ID, "tenant", b.TenantID, "status", string(status),
			"created_at", b.CreatedAt.UnixMilli(), "message", msg, "activity", activity,
			"audience", audienceResolve, "audience_spec", spec, "priority", string(b.Priority.OrNormal()), "cursor", "", "expanded", "0"},
			scheduleFields(b)...)...)
		if scheduled {
			p.ZAdd(ctx, keyScheduled, redis.Z{Score: float64(b.SendAt.UnixMilli()), Member: b.ID})
		}
		fields := []any{"total", 0}
		for _, st := range broadcast.States {
			fields = append(fields, string(st), 0)
		}
		p.HSet(ctx, k.counts, fields...)
		for key, list := range map[string][]string{k.users: b.Audience.UserIDs, a.upns: b.Audience.UPNs,
			a.xids: b.Audience.Exclude.UserIDs, a.xupns: b.Audience.Exclude.UPNs} {
			for i := 0; i < len(list); i += 1000 {
				end := min(i+1000, len(list))
				vals := make([]any, 0, end-i)
				for _, u := range list[i:end] {
					vals = append(vals, u)
				}
				p.RPush(ctx, key, vals...)
			}
		}
		p.ZAdd(ctx, keyAll, redis.Z{Score: float64(b.CreatedAt.UnixMilli()), Member: b.ID})
		p.ZAdd(ctx, tenantListKey(b.TenantID), redis.Z{Score: float64(b.CreatedAt.UnixMilli()), Member: b.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("create broadcast %s: %w", b.ID, err)
	}
	return nil
}

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
	b.Audience.AllUsers = m["audience"] == "all"
	if spec := m["audience_spec"]; spec != "" {
		if err := json.Unmarshal([]byte(spec), &b.Audience); err != nil {
			return nil, fmt.Errorf("broadcast %s: decode audience: %w", id, err)
		}
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
	b, err := s.rdb.HGet(ctx, keysOf(id).meta, "activity").Bytes()
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
	ids, err := s.rdb.ZRange(ctx, keyExpanding, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list expanding broadcasts: %w", err)
	}
	return ids, nil
}

// ExpansionCursor returns where expansion stopped ("" = at the start) and
// whether the broadcast still exists.
func (s *Store) ExpansionCursor(ctx context.Context, id string) (string, error) {
	vals, err := s.rdb.HMGet(ctx, keysOf(id).meta, "id", "cursor").Result()
	if err != nil {
		return "", fmt.Errorf("read cursor of %s: %w", id, err)
	}
	if vals[0] == nil {
		return "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	c, _ := vals[1].(string)
	return c, nil
}

// SaveExpansionCursor records that expansion has published everything before cursor.
func (s *Store) SaveExpansionCursor(ctx context.Context, id, cursor string) error {
	if err := s.rdb.HSet(ctx, keysOf(id).meta, "cursor", cursor).Err(); err != nil {
		return fmt.Errorf("save cursor of %s: %w", id, err)
	}
	return nil
}

// AudiencePage returns up to n user ids of an explicit audience from offset.
func (s *Store) AudiencePage(ctx context.Context, id string, offset, n int64) ([]string, error) {
	users, err := s.rdb.LRange(ctx, keysOf(id).users, offset, offset+n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read audience of %s: %w", id, err)
	}
	return users, nil
}

// FinishExpansion marks every recipient of the broadcast as known and
// unregisters it from expansion. It reports whether the broadcast completed.
func (s *Store) FinishExpansion(ctx context.Context, id string) (bool, error) {
	k := keysOf(id)
	res, err := finishScript.Run(ctx, s.rdb, k.script(), s.nowMS()).Int()
	if err != nil {
		return false, fmt.Errorf("finish expansion of %s: %w", id, err)
	}
	if err := s.rdb.ZRem(ctx, keyExpanding, id).Err(); err != nil {
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
	if err := forgetScript.Run(ctx, s.rdb, []string{keyExpanding}, id, before).Err(); err != nil {
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
