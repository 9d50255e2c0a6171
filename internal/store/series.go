package store

import (
	"context"
	"fmt"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/timeseries"
)

// DeliveryPoint is one minute or hour of a broadcast's send: the
// recipients whose outcome was recorded then.
type DeliveryPoint struct {
	At      time.Time `json:"at"`
	Sent    int64     `json:"sent"`
	Blocked int64     `json:"blocked"`
	Failed  int64     `json:"failed"`
}

// DeliverySeries is a broadcast's outcomes over time: per minute for
// the first hour from its start, per hour after. The transition that
// records an outcome counts it (transitionScript), so the series sums to
// the counters, except for a replayed recipient, whose failure and later
// send both count.
type DeliverySeries struct {
	Minutes []DeliveryPoint `json:"perMinute"`
	Hours   []DeliveryPoint `json:"perHour"`
}

// Deliveries returns the broadcast's outcomes over time from start (the
// send's start); buckets with nothing are left out.
func (s *Store) Deliveries(ctx context.Context, id string, start time.Time) (DeliverySeries, error) {
	m, err := s.rdb.HGetAll(ctx, s.keysOf(id).outcomes).Result()
	if err != nil {
		return DeliverySeries{}, fmt.Errorf("read outcomes of %s: %w", id, err)
	}
	minutes, hours := timeseries.Fold(m, start)
	return DeliverySeries{Minutes: deliveryPoints(minutes), Hours: deliveryPoints(hours)}, nil
}

func deliveryPoints(bs []timeseries.Bucket) []DeliveryPoint {
	out := make([]DeliveryPoint, len(bs))
	for i, b := range bs {
		out[i] = DeliveryPoint{At: b.At, Sent: b.N[string(broadcast.StateSent)],
			Blocked: b.N[string(broadcast.StateBlocked)], Failed: b.N[string(broadcast.StateFailed)]}
	}
	return out
}
