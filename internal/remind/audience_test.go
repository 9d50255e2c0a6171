package remind

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
)

// pages serves n sent recipients, PageSize at a time.
type pages struct{ n int }

func (p pages) Recipients(_ context.Context, _ string, state broadcast.State, cursor string, limit int) ([]broadcast.Recipient, string, error) {
	if state != broadcast.StateSent {
		return nil, "", fmt.Errorf("state %s: only sent recipients are reminded", state)
	}
	from, _ := strconv.Atoi(cursor)
	var out []broadcast.Recipient
	for i := from; i < p.n && len(out) < limit; i++ {
		out = append(out, broadcast.Recipient{UserID: strconv.Itoa(i), State: broadcast.StateSent})
	}
	next := ""
	if from+len(out) < p.n {
		next = strconv.Itoa(from + len(out))
	}
	return out, next, nil
}

// engaged: every 2nd acknowledged, every 3rd read, every 5th with receipts on.
type engaged struct{}

func (engaged) Recipients(_ context.Context, _ string, users []string) (map[string]engage.Engagement, error) {
	now := time.Now()
	out := map[string]engage.Engagement{}
	for _, u := range users {
		i, _ := strconv.Atoi(u)
		var e engage.Engagement
		if i%2 == 0 {
			e.AcknowledgedAt = &now
		}
		if i%3 == 0 {
			e.ReadAt, e.ReceiptsOn = &now, true
		}
		if i%5 == 0 {
			e.ReceiptsOn = true
		}
		if e.AcknowledgedAt != nil || e.ReceiptsOn {
			out[u] = e
		}
	}
	return out, nil
}

// Every delivered recipient is looked at, page after page, and counted
// once: reminded, or left out for one reason.
func TestSelectCountsEveryDeliveredRecipientOnce(t *testing.T) {
	t.Parallel()
	const n = 2*PageSize + 17
	users, sum, err := Select(context.Background(), pages{n}, engaged{}, "b", n+40, broadcast.RemindUnacknowledged)
	require.NoError(t, err)
	require.Len(t, users, n/2)
	require.Equal(t, broadcast.Reminder{To: broadcast.RemindUnacknowledged, Delivered: n, Recipients: n / 2, Acknowledged: n - n/2, NotDelivered: 40}, sum)
	for _, u := range users {
		i, _ := strconv.Atoi(u)
		require.NotZero(t, i%2, "%s acknowledged", u)
	}

	users, sum, err = Select(context.Background(), pages{n}, engaged{}, "b", n, broadcast.RemindUnread)
	require.NoError(t, err)
	var read, unknown, unread int64
	for i := range n {
		switch {
		case i%3 == 0:
			read++
		case i%5 != 0:
			unknown++
		default:
			unread++
		}
	}
	require.Equal(t, broadcast.Reminder{To: broadcast.RemindUnread, Delivered: n, Recipients: unread, Read: read, ReceiptsUnknown: unknown}, sum)
	require.Len(t, users, int(unread))
	for _, u := range users {
		i, _ := strconv.Atoi(u)
		require.True(t, i%3 != 0 && i%5 == 0, "%s: known unread", u)
	}
}
