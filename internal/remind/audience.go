// Package remind chooses the recipients of a reminder: among those an
// original broadcast was delivered to, the ones who have not acknowledged
// it, or the ones known not to have read it.
//
// "Unread" is known only for a recipient whose read receipts are on: Teams
// sends a receipt only when the user's privacy setting allows it, and a
// recipient who has never sent one cannot be told from one who has not
// read. Those are left out, and counted (ReceiptsUnknown), rather than
// reminded of a message they may have read.
package remind

import (
	"context"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
)

// PageSize is how many recipients are read at a time.
const PageSize = 1000

// Deliveries lists a broadcast's recipients in one state, a page at a
// time (store.Store).
type Deliveries interface {
	Recipients(ctx context.Context, id string, state broadcast.State, cursor string, limit int) ([]broadcast.Recipient, string, error)
}

// Engagements reads recipients' engagement (engage.Store).
type Engagements interface {
	Recipients(ctx context.Context, id string, users []string) (map[string]engage.Engagement, error)
}

// Select returns the users of the broadcast of that a reminder to sends
// to, in the order its delivered recipients are listed, and what it chose
// and left out. total is the original's number of recipients.
func Select(ctx context.Context, d Deliveries, e Engagements, of string, total int64, to broadcast.RemindTo) ([]string, broadcast.Reminder, error) {
	sum := broadcast.Reminder{To: to}
	var users []string
	cursor := ""
	for {
		recs, next, err := d.Recipients(ctx, of, broadcast.StateSent, cursor, PageSize)
		if err != nil {
			return nil, sum, err
		}
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.UserID
		}
		eng, err := e.Recipients(ctx, of, ids)
		if err != nil {
			return nil, sum, err
		}
		for _, u := range ids {
			sum.Delivered++
			g := eng[u]
			switch {
			case to == broadcast.RemindUnacknowledged && g.AcknowledgedAt != nil:
				sum.Acknowledged++
			case to == broadcast.RemindUnread && g.ReadAt != nil:
				sum.Read++
			case to == broadcast.RemindUnread && !g.ReceiptsOn:
				sum.ReceiptsUnknown++
			default:
				users = append(users, u)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	sum.Recipients = int64(len(users))
	sum.NotDelivered = max(total-sum.Delivered, 0)
	return users, sum, nil
}
