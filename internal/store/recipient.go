package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// NewRecipient is a recipient found by expansion.
type NewRecipient struct {
	UserID         string
	State          broadcast.State // StatePending (conversation known) or StateInstalling
	ConversationID string
}

// Added is what AddRecipients found for one recipient.
type Added struct {
	UserID string
	State  broadcast.State // its state now
	New    bool            // false: it was already a recipient (a resumed page, a duplicate id)
}

// AddRecipients records recipients that are not known yet, atomically with
// the broadcast's counters. Known ones keep their state and are reported.
func (s *Store) AddRecipients(ctx context.Context, id string, rs []NewRecipient) ([]Added, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+3*len(rs))
	args = append(args, s.nowMS())
	for _, r := range rs {
		args = append(args, r.UserID, string(r.State), r.ConversationID)
	}
	res, err := addScript.Run(ctx, s.rdb, s.keysOf(id).script(), args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("add %d recipients to %s: %w", len(rs), id, err)
	}
	if len(res) == 1 && res[0] == "c" {
		return nil, fmt.Errorf("add recipients to %s: %w", id, ErrCanceled)
	}
	out := make([]Added, len(rs))
	for i, v := range res {
		out[i] = Added{UserID: rs[i].UserID, State: broadcast.State(v[1:]), New: v[0] == 'n'}
	}
	return out, nil
}

// Change describes a state change of one recipient.
type Change struct {
	From []broadcast.State // allowed current states; empty means any non-final state
	To   broadcast.State
	// Owner and Lease claim the recipient (To == StateSending): another owner's
	// claim is refused (Busy) until its lease has run out. With another To,
	// Owner makes the move out of sending its claim's only (else Lost).
	Owner string
	Lease time.Duration

	Reason         broadcast.Reason
	LastError      string
	ConversationID string
	ActivityID     string
	// CountAttempt, CountRetry, CountReinstall and CountThrottle add one to
	// those counters.
	CountAttempt, CountRetry, CountReinstall, CountThrottle bool
	// MaybeDelivered adds one to the broadcast's possible duplicates: the
	// send being released got no answer, and Teams may have delivered it.
	MaybeDelivered bool
}

// Result is the outcome of a Transition.
type Result struct {
	Applied   bool            // the change was made
	Canceled  bool            // not applied: the broadcast is being canceled, and the recipient is now canceled
	Busy      bool            // another owner holds a live claim
	Lost      bool            // not applied: the claim is another owner's now
	Prev      broadcast.State // the state before (the current state when not applied)
	Recipient broadcast.Recipient
}

type changeArgs struct {
	Reason string   `json:"reason,omitempty"`
	Err    string   `json:"err,omitempty"`
	Conv   string   `json:"conv,omitempty"`
	Act    string   `json:"act,omitempty"`
	Incr   []string `json:"incr,omitempty"`
	Dup    bool     `json:"dup,omitempty"`
}

// ErrReportBehind is what Transition returns when the change was recorded
// (Result says how) and only the tenant's unreachable report, written by
// a second call, could not be brought up to date. Repeating the same
// change writes the report again.
var ErrReportBehind = errors.New("recorded, but the unreachable report is behind")

// Transition applies c to one recipient if its current state allows it.
// Any other error means the change was not recorded, or that the
// recipient's record is corrupt.
func (s *Store) Transition(ctx context.Context, id, user string, c Change) (Result, error) {
	from := make([]string, len(c.From))
	for i, f := range c.From {
		from[i] = string(f)
	}
	ca := changeArgs{Reason: string(c.Reason), Err: clipErr(c.LastError), Conv: c.ConversationID, Act: c.ActivityID, Dup: c.MaybeDelivered}
	if c.CountAttempt {
		ca.Incr = append(ca.Incr, "a")
	}
	if c.CountRetry {
		ca.Incr = append(ca.Incr, "rt")
	}
	if c.CountReinstall {
		ca.Incr = append(ca.Incr, "ri")
	}
	if c.CountThrottle {
		ca.Incr = append(ca.Incr, "th")
	}
	chJSON, _ := json.Marshal(ca)
	k := s.keysOf(id)
	res, err := s.pipe.Run(ctx, transitionScript, append(k.script(), k.outcomes),
		user, strings.Join(from, ","), string(c.To), s.nowMS(), c.Owner, c.Lease.Milliseconds(), chJSON).StringSlice()
	if err != nil {
		return Result{}, fmt.Errorf("move %s of %s to %s: %w", user, id, c.To, err)
	}
	if res[0] == "missing" {
		return Result{}, fmt.Errorf("recipient %s of %s: %w", user, id, ErrNotFound)
	}
	r := Result{Applied: res[0] == "ok", Busy: res[0] == "busy", Lost: res[0] == "lost",
		Canceled: res[0] == "canceled", Prev: broadcast.State(res[1])}
	r.Recipient, err = decodeRecord(user, []byte(res[2]))
	if err != nil {
		return r, err
	}
	if len(res) > 3 && res[3] != "" && (r.Applied || r.Prev == c.To) {
		// Applied now, or by an earlier call whose report write failed
		// (the caller retries the same change): noteReach is idempotent.
		if err := s.noteReach(ctx, res[3], id, r.Recipient); err != nil {
			return r, fmt.Errorf("move %s of %s to %s: %w: %w", user, id, c.To, ErrReportBehind, err)
		}
	}
	return r, nil
}

func clipErr(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// record is a recipient as the scripts store it: short keys, because a
// broadcast to a million users stores a million of them.
type record struct {
	S   string `json:"s"`
	R   string `json:"r,omitempty"`
	E   string `json:"e,omitempty"`
	A   int    `json:"a"`
	RT  int    `json:"rt,omitempty"`
	RI  int    `json:"ri,omitempty"`
	TH  int    `json:"th,omitempty"`
	RP  int    `json:"rp,omitempty"`
	C   string `json:"c,omitempty"`
	Act string `json:"act,omitempty"`
	T   int64  `json:"t"`
}

func decodeRecord(user string, raw []byte) (broadcast.Recipient, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return broadcast.Recipient{}, fmt.Errorf("decode recipient %s: %w", user, err)
	}
	return broadcast.Recipient{UserID: user, State: broadcast.State(r.S), Reason: broadcast.Reason(r.R),
		LastError: r.E, Attempts: r.A, Retries: r.RT, Reinstalls: r.RI, Throttles: r.TH, ReplayRound: r.RP, ConversationID: r.C,
		ActivityID: r.Act, UpdatedAt: time.UnixMilli(r.T).UTC()}, nil
}

// Recipient returns one recipient's record.
func (s *Store) Recipient(ctx context.Context, id, user string) (broadcast.Recipient, error) {
	raw, err := s.rdb.HGet(ctx, s.keysOf(id).rec, user).Bytes()
	if errors.Is(err, redis.Nil) {
		return broadcast.Recipient{}, fmt.Errorf("recipient %s of %s: %w", user, id, ErrNotFound)
	}
	if err != nil {
		return broadcast.Recipient{}, fmt.Errorf("read recipient %s of %s: %w", user, id, err)
	}
	return decodeRecord(user, raw)
}

// Recipients returns a page of a broadcast's recipients, in user id order when
// filtered by state. The cursor is opaque; "" starts, and an empty next
// cursor means the last page.
func (s *Store) Recipients(ctx context.Context, id string, state broadcast.State, cursor string, limit int) ([]broadcast.Recipient, string, error) {
	k := s.keysOf(id)
	if state == "" {
		return s.scanRecipients(ctx, k, cursor, limit)
	}
	min := "-"
	if cursor != "" {
		min = "(" + cursor
	}
	users, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.idx[state], Start: min, Stop: "+", ByLex: true, Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list %s recipients of %s: %w", state, id, err)
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[limit-1]
	}
	if len(users) == 0 {
		return nil, "", nil
	}
	raws, err := s.rdb.HMGet(ctx, k.rec, users...).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read recipients of %s: %w", id, err)
	}
	out := make([]broadcast.Recipient, 0, len(users))
	for i, v := range raws {
		raw, ok := v.(string)
		if !ok {
			continue // moved away between the two reads
		}
		r, err := decodeRecord(users[i], []byte(raw))
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

func (s *Store) scanRecipients(ctx context.Context, k bkeys, cursor string, limit int) ([]broadcast.Recipient, string, error) {
	var cur uint64
	if cursor != "" {
		c, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrBadCursor)
		}
		cur = c
	}
	var out []broadcast.Recipient
	for {
		kv, next, err := s.rdb.HScan(ctx, k.rec, cur, "", int64(limit)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("scan recipients: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			r, err := decodeRecord(kv[i], []byte(kv[i+1]))
			if err != nil {
				return nil, "", err
			}
			out = append(out, r)
		}
		cur = next
		if cur == 0 {
			return out, "", nil
		}
		if len(out) > 0 {
			return out, strconv.FormatUint(cur, 10), nil
		}
	}
}

// ErrBadCursor is returned for a cursor the store did not issue.
var ErrBadCursor = errors.New("invalid cursor")
