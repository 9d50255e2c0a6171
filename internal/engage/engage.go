package engage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/autopipe"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// ErrNotRecipient is returned for an engagement of a user the broadcast
// did not reach (or another tenant's, or a broadcast no longer kept).
var ErrNotRecipient = errors.New("not a recipient of the broadcast")

// Limits of what is kept.
const (
	// MaxSentPerUser bounds a user's index of messages sent: the oldest
	// goes; engagement with it is no longer recorded.
	MaxSentPerUser = 500
	// UserTTL is how long a user's index and receipts outlive their last
	// message or receipt.
	UserTTL = 180 * 24 * time.Hour
	// MaxActionsPerRecipient is how many Action.Execute a recipient's
	// record keeps (the latest).
	MaxActionsPerRecipient = 10
	// MaxReactionTypes is how many reaction types one recipient counts.
	MaxReactionTypes = 16
	// MaxReplyChars is where a kept reply's text is cut.
	MaxReplyChars = 4000
)

// Store keeps engagement in Redis. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	ks   store.Keyspace
	pipe *autopipe.Pipe // NoteSent's: one per delivery
}

// New returns a Store on rdb, its keys in ks.
func New(rdb redis.UniversalClient, ks store.Keyspace) *Store {
	return &Store{rdb: rdb, ks: ks, pipe: autopipe.New(rdb)}
}

// pending is what sync found one broadcast must hear.
type pending struct {
	activity, broadcast string
	readAt              int64 // ms; 0: nothing new
	on                  bool
}

// NoteSent indexes a message the user got (its activity id names the
// broadcast for receipts, reactions and invokes) and applies the receipts
// that arrived before it was recorded. Repeating it changes nothing.
func (s *Store) NoteSent(ctx context.Context, tenant, user, broadcastID, activityID string, at time.Time) error {
	if activityID == "" {
		return nil // nothing can name it
	}
	k := s.userKeys(tenant, user)
	res, err := s.pipe.Run(ctx, noteSentScript, []string{k.sent, k.rcpt}, activityID, broadcastID, at.UnixMilli(),
		MaxSentPerUser, int64(UserTTL/time.Second)).StringSlice()
	if err != nil {
		return fmt.Errorf("index message %s of %s for %s: %w", activityID, broadcastID, user, err)
	}
	_, err = s.propagate(ctx, k, user, res)
	return err
}

// Receipt records a read receipt: every message sent to the user whose
// activity id is at or below lastRead is read, at now unless a receipt
// said so earlier. It returns how many broadcasts are newly read.
func (s *Store) Receipt(ctx context.Context, tenant, user, lastRead string, now time.Time) (int, error) {
	k := s.userKeys(tenant, user)
	res, err := receiptScript.Run(ctx, s.rdb, []string{k.sent, k.rcpt}, lastRead, now.UnixMilli(),
		int64(UserTTL/time.Second)).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("record receipt of %s: %w", user, err)
	}
	return s.propagate(ctx, k, user, res)
}

// propagate tells each broadcast what sync found, then marks it heard. A
// failure leaves the marks unset: the next receipt or send (or Teams'
// retry of this one) tells them again, and the broadcasts' scripts keep
// the earliest time, so telling twice counts once.
func (s *Store) propagate(ctx context.Context, k ukeys, user string, res []string) (int, error) {
	if len(res) == 0 {
		return 0, nil
	}
	ps := make([]pending, 0, len(res)/4)
	for i := 0; i+3 < len(res); i += 4 {
		at, _ := strconv.ParseInt(res[i+2], 10, 64)
		ps = append(ps, pending{activity: res[i], broadcast: res[i+1], readAt: at, on: res[i+3] == "1"})
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ps))
	for i, p := range ps {
		b := s.broadcastKeys(p.broadcast)
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
		cmds[i] = readScript.Eval(ctx, pipe, []string{b.counts, b.read, b.rxon, b.series, b.rec}, user, p.readAt, flag(p.on))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("record reads of %s: %w", user, err)
	}
	newly := 0
	marks := make([]any, 0, 3*len(ps))
	for i, p := range ps {
		n, err := cmds[i].Int()
		if err != nil {
			return 0, fmt.Errorf("record read of %s by %s: %w", p.broadcast, user, err)
		}
		if n == 1 {
			newly++
		}
		marks = append(marks, p.activity, p.readAt, flag(p.on))
	}
	if err := markScript.Run(ctx, s.rdb, []string{k.sent}, marks...).Err(); err != nil {
		return newly, fmt.Errorf("mark reads of %s: %w", user, err)
	}
	return newly, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// sentEntry is a user's index entry as the scripts store it.
type sentEntry struct {
	Broadcast string `json:"b"`
	At        int64  `json:"t"`
}

// BroadcastOf returns the broadcast whose message to the user has the
// activity id, "" when none is known.
func (s *Store) BroadcastOf(ctx context.Context, tenant, user, activityID string) (string, error) {
	raw, err := s.rdb.HGet(ctx, s.userKeys(tenant, user).sent, activityID).Bytes()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up message %s of %s: %w", activityID, user, err)
	}
	var e sentEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", fmt.Errorf("decode message %s of %s: %w", activityID, user, err)
	}
	return e.Broadcast, nil
}

// Latest returns the broadcast that reached the user last, "" when none.
func (s *Store) Latest(ctx context.Context, tenant, user string) (string, error) {
	all, err := s.rdb.HGetAll(ctx, s.userKeys(tenant, user).sent).Result()
	if err != nil {
		return "", fmt.Errorf("read messages of %s: %w", user, err)
	}
	var latest sentEntry
	for _, raw := range all {
		var e sentEntry
		if json.Unmarshal([]byte(raw), &e) == nil && (latest.Broadcast == "" || e.At > latest.At) {
			latest = e
		}
	}
	return latest.Broadcast, nil
}

// React records reactions added to or removed from the broadcast by a
// recipient; it returns how many changed (a repeated one changes none).
func (s *Store) React(ctx context.Context, id, user string, added bool, types []string) (int, error) {
	if len(types) == 0 {
		return 0, nil
	}
	op := "remove"
	if added {
		op = "add"
	}
	b := s.broadcastKeys(id)
	args := append([]any{user, op, MaxReactionTypes}, anys(types)...)
	n, err := reactScript.Run(ctx, s.rdb, []string{b.counts, b.react, b.rec}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("record reactions of %s to %s: %w", user, id, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("reactions of %s to %s: %w", user, id, ErrNotRecipient)
	}
	return n, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Action is an Action.Execute a recipient made on a broadcast's card.
type Action struct {
	ActivityID string          `json:"id,omitempty"` // the invoke's; a repeated invoke is recorded once
	Verb       string          `json:"verb"`
	Data       json.RawMessage `json:"data,omitempty"`
	At         time.Time       `json:"at"`
}

// ActResult is what Act recorded.
type ActResult struct {
	Duplicate      bool      // the invoke was recorded before
	NewAck         bool      // this acknowledged the broadcast
	AcknowledgedAt time.Time // zero: not acknowledged
}

// Act records an Action.Execute of a recipient of the broadcast in tenant,
// and with ack the acknowledgement (its first time kept).
func (s *Store) Act(ctx context.Context, id, tenant, user string, a Action, ack bool) (ActResult, error) {
	b := s.broadcastKeys(id)
	data := string(a.Data)
	if data == "" {
		data = "null"
	}
	res, err := actScript.Run(ctx, s.rdb, []string{b.counts, b.act, b.ack, b.series, b.rec, b.meta},
		user, tenant, a.ActivityID, a.At.UnixMilli(), a.Verb, data, flag(ack), MaxActionsPerRecipient).StringSlice()
	if err != nil {
		return ActResult{}, fmt.Errorf("record action %q of %s on %s: %w", a.Verb, user, id, err)
	}
	if res[0] != "ok" {
		return ActResult{}, fmt.Errorf("action of %s on %s: %w", user, id, ErrNotRecipient)
	}
	r := ActResult{NewAck: res[1] == "1", Duplicate: res[3] == "1"}
	if ms, _ := strconv.ParseInt(res[2], 10, 64); ms > 0 {
		r.AcknowledgedAt = time.UnixMilli(ms).UTC()
	}
	return r, nil
}

// Reply is a recipient's message to the bot, kept as a reply to the
// broadcast that reached them last.
type Reply struct {
	UserID string    `json:"userId"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

type replyRecord struct {
	U  string `json:"u"`
	T  string `json:"t"`
	At int64  `json:"at"`
}

// Reply keeps a reply (once per key, the activity id); false when it was
// kept before.
func (s *Store) Reply(ctx context.Context, id, user, key, text string, at time.Time) (bool, error) {
	if r := []rune(text); len(r) > MaxReplyChars {
		text = string(r[:MaxReplyChars])
	}
	if key == "" {
		key = user + ":" + strconv.FormatInt(at.UnixNano(), 10)
	}
	raw, _ := json.Marshal(replyRecord{U: user, T: text, At: at.UnixMilli()})
	b := s.broadcastKeys(id)
	n, err := replyScript.Run(ctx, s.rdb, []string{b.counts, b.replied, b.reply, b.replyAt, b.rec},
		user, key, at.UnixMilli(), raw).Int()
	if err != nil {
		return false, fmt.Errorf("keep reply of %s to %s: %w", user, id, err)
	}
	if n < 0 {
		return false, fmt.Errorf("reply of %s to %s: %w", user, id, ErrNotRecipient)
	}
	return n == 1, nil
}
