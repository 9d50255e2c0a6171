package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// KeyAudit is the stream of the API's audit log: one entry per
// state-changing call, oldest first, trimmed to about its bound.
const KeyAudit = "audit"

// AppendAudit adds e (its ID is ignored) to the audit log, keeping about
// the newest maxLen entries.
func (s *Store) AppendAudit(ctx context.Context, e broadcast.AuditEntry, maxLen int64) error {
	vals := []any{"at", e.Time.UnixMilli(), "actor", e.Actor, "role", e.Role, "action", e.Action,
		"status", e.Status}
	for _, f := range [][2]string{{"broadcast", e.BroadcastID}, {"tenant", e.TenantID}, {"code", e.Code}, {"request", e.RequestID}} {
		if f[1] != "" {
			vals = append(vals, f[0], f[1])
		}
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Key(KeyAudit), MaxLen: maxLen, Approx: true, Values: vals}).Err()
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	return nil
}

// AuditFilter selects audit entries: all when empty.
type AuditFilter struct {
	BroadcastID string
	Actor       string
	// Cursor continues a listing: the NextCursor of the page before.
	Cursor string
	Limit  int
}

func (f AuditFilter) filtered() bool { return f.BroadcastID != "" || f.Actor != "" }

func (f AuditFilter) match(e broadcast.AuditEntry) bool {
	return (f.BroadcastID == "" || e.BroadcastID == f.BroadcastID) && (f.Actor == "" || e.Actor == f.Actor)
}

// auditScan bounds the entries a filtered page looks at: a filter that
// matches nothing does not read the whole log in one request.
const auditScan = 5000

var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// Audit lists audit entries newest first, f.Limit at most, and a cursor
// for the rest (empty after the last). A filtered page looks at a bounded
// number of entries, so it may be short, even empty, and still have a
// cursor. A cursor this store did not issue is ErrBadCursor.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]broadcast.AuditEntry, string, error) {
	if f.Limit < 1 {
		return nil, "", errors.New("audit: limit must be positive")
	}
	upTo := "+"
	if f.Cursor != "" {
		if !streamID.MatchString(f.Cursor) {
			return nil, "", fmt.Errorf("%w: %q", ErrBadCursor, f.Cursor)
		}
		upTo = "(" + f.Cursor
	}
	batch := int64(f.Limit + 1)
	if f.filtered() {
		batch = 500
	}
	out := []broadcast.AuditEntry{}
	examined := 0
	for {
		msgs, err := s.rdb.XRevRangeN(ctx, s.Key(KeyAudit), upTo, "-", batch).Result()
		if err != nil {
			return nil, "", fmt.Errorf("read the audit log: %w", err)
		}
		for _, m := range msgs {
			examined++
			e := parseAudit(m)
			if f.match(e) {
				if len(out) == f.Limit { // one more matches: the next page starts after the last
					return out, out[len(out)-1].ID, nil
				}
				out = append(out, e)
			}
			if examined >= auditScan {
				return out, m.ID, nil
			}
		}
		if int64(len(msgs)) < batch {
			return out, "", nil
		}
		upTo = "(" + msgs[len(msgs)-1].ID
	}
}

func parseAudit(m redis.XMessage) broadcast.AuditEntry {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	e := broadcast.AuditEntry{ID: m.ID, Actor: str("actor"), Role: str("role"), Action: str("action"),
		BroadcastID: str("broadcast"), TenantID: str("tenant"), Code: str("code"), RequestID: str("request")}
	e.Time = msTime(str("at"))
	e.Status, _ = strconv.Atoi(str("status"))
	return e
}

// Owner returns the tenant of broadcast id and the name of the key that
// created it (empty for a broadcast created before keys).
func (s *Store) Owner(ctx context.Context, id string) (tenant, createdBy string, err error) {
	vals, err := s.rdb.HMGet(ctx, s.keysOf(id).meta, "id", "tenant", "created_by").Result()
	if err != nil {
		return "", "", fmt.Errorf("read broadcast %s: %w", id, err)
	}
	if vals[0] == nil {
		return "", "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	tenant, _ = vals[1].(string)
	createdBy, _ = vals[2].(string)
	return tenant, createdBy, nil
}
