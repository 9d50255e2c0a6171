package engage

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/timeseries"
)

// Counts are a broadcast's exact engagement counters.
type Counts struct {
	Read         int64 `json:"read"`         // recipients who read it (a receipt at or above its message)
	Acknowledged int64 `json:"acknowledged"` // recipients who pressed the acknowledge button
	Reacted      int64 `json:"reacted"`      // recipients with at least one reaction on it now
	Replied      int64 `json:"replied"`      // recipients who replied
	Replies      int64 `json:"replies"`      // replies kept
	Acted        int64 `json:"acted"`        // recipients who pressed an Action.Execute button
	Actions      int64 `json:"actions"`      // Action.Execute invokes recorded
	// ReceiptsOn is how many recipients sent a read receipt at least
	// once: only for them is "unread" known; for the others it is unknown.
	ReceiptsOn int64            `json:"receiptsOn"`
	Reactions  map[string]int64 `json:"reactions,omitempty"` // recipients per reaction type
}

// Counts returns the broadcast's counters.
func (s *Store) Counts(ctx context.Context, id string) (Counts, error) {
	m, err := s.rdb.HGetAll(ctx, s.broadcastKeys(id).counts).Result()
	if err != nil {
		return Counts{}, fmt.Errorf("read engagement of %s: %w", id, err)
	}
	var c Counts
	for f, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch f {
		case "read":
			c.Read = n
		case "acknowledged":
			c.Acknowledged = n
		case "reacted":
			c.Reacted = n
		case "replied":
			c.Replied = n
		case "replies":
			c.Replies = n
		case "acted":
			c.Acted = n
		case "actions":
			c.Actions = n
		case "receipts_on":
			c.ReceiptsOn = n
		default:
			if t, ok := strings.CutPrefix(f, "rx:"); ok && n > 0 {
				if c.Reactions == nil {
					c.Reactions = map[string]int64{}
				}
				c.Reactions[t] = n
			}
		}
	}
	return c, nil
}

// Engagement is one recipient's engagement.
type Engagement struct {
	ReadAt         *time.Time `json:"readAt,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	RepliedAt      *time.Time `json:"repliedAt,omitempty"`
	Reactions      []string   `json:"reactions,omitempty"`
	Actions        []Action   `json:"actions,omitempty"`
	ReceiptsOn     bool       `json:"receiptsOn,omitempty"`
}

// Recipients returns the engagement of users (a page of them: one HMGET
// per kind); users with none are missing from the map.
func (s *Store) Recipients(ctx context.Context, id string, users []string) (map[string]Engagement, error) {
	out := make(map[string]Engagement)
	if len(users) == 0 {
		return out, nil
	}
	b := s.broadcastKeys(id)
	pipe := s.rdb.Pipeline()
	read := pipe.HMGet(ctx, b.read, users...)
	ack := pipe.HMGet(ctx, b.ack, users...)
	replied := pipe.HMGet(ctx, b.replied, users...)
	react := pipe.HMGet(ctx, b.react, users...)
	act := pipe.HMGet(ctx, b.act, users...)
	rxon := pipe.HMGet(ctx, b.rxon, users...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read engagement of %d recipients of %s: %w", len(users), id, err)
	}
	for i, u := range users {
		var r Engagement
		r.ReadAt = msTime(read.Val()[i])
		r.AcknowledgedAt = msTime(ack.Val()[i])
		r.RepliedAt = msTime(replied.Val()[i])
		if v, ok := react.Val()[i].(string); ok {
			_ = json.Unmarshal([]byte(v), &r.Reactions)
		}
		if v, ok := act.Val()[i].(string); ok {
			r.Actions = decodeActions(v)
		}
		_, r.ReceiptsOn = rxon.Val()[i].(string)
		if r.ReadAt != nil || r.AcknowledgedAt != nil || r.RepliedAt != nil || r.Reactions != nil || r.Actions != nil || r.ReceiptsOn {
			out[u] = r
		}
	}
	return out, nil
}

func msTime(v any) *time.Time {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

// decodeActions reads the scripts' action list: data is kept as the JSON
// text it came as.
func decodeActions(v string) []Action {
	var raw []struct {
		ID   string `json:"id"`
		Verb string `json:"verb"`
		Data string `json:"data"`
		At   int64  `json:"at"`
	}
	if json.Unmarshal([]byte(v), &raw) != nil {
		return nil
	}
	out := make([]Action, len(raw))
	for i, a := range raw {
		out[i] = Action{ActivityID: a.ID, Verb: a.Verb, At: time.UnixMilli(a.At).UTC()}
		if a.Data != "" && a.Data != "null" && json.Valid([]byte(a.Data)) {
			out[i].Data = json.RawMessage(a.Data)
		}
	}
	return out
}

// Point is one bucket of a time series.
type Point struct {
	At           time.Time `json:"at"`
	Read         int64     `json:"read"`
	Acknowledged int64     `json:"acknowledged"`
}

// Series is a broadcast's reads and acknowledgements over time: per
// minute for the first hour from its start, per hour after.
type Series struct {
	Minutes []Point `json:"perMinute"`
	Hours   []Point `json:"perHour"`
}

// Series returns the broadcast's time series from start (the send's
// start): buckets with nothing are left out.
func (s *Store) Series(ctx context.Context, id string, start time.Time) (Series, error) {
	m, err := s.rdb.HGetAll(ctx, s.broadcastKeys(id).series).Result()
	if err != nil {
		return Series{}, fmt.Errorf("read time series of %s: %w", id, err)
	}
	minutes, hours := timeseries.Fold(m, start)
	return Series{Minutes: points(minutes), Hours: points(hours)}, nil
}

func points(bs []timeseries.Bucket) []Point {
	out := make([]Point, len(bs))
	for i, b := range bs {
		out[i] = Point{At: b.At, Read: b.N["r"], Acknowledged: b.N["a"]}
	}
	return out
}

// Replies returns a page of the broadcast's replies, oldest first. The
// cursor is opaque; "" starts, an empty next cursor means the last page.
func (s *Store) Replies(ctx context.Context, id, cursor string, limit int) ([]Reply, string, error) {
	b := s.broadcastKeys(id)
	offset, _ := strconv.ParseInt(cursor, 10, 64)
	keys, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: b.replyAt, Start: offset, Stop: offset + int64(limit)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list replies of %s: %w", id, err)
	}
	next := ""
	if len(keys) > limit {
		keys, next = keys[:limit], strconv.FormatInt(offset+int64(limit), 10)
	}
	out := make([]Reply, 0, len(keys))
	if len(keys) == 0 {
		return out, next, nil
	}
	vals, err := s.rdb.HMGet(ctx, b.reply, keys...).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read replies of %s: %w", id, err)
	}
	for _, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue
		}
		var r replyRecord
		if json.Unmarshal([]byte(raw), &r) == nil {
			out = append(out, Reply{UserID: r.U, Text: r.T, At: time.UnixMilli(r.At).UTC()})
		}
	}
	return out, next, nil
}
