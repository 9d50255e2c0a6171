package dispatch

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/graph"
)

// GroupCounter counts a group's transitive user members; a tenant's Users
// (graph.Client) is one.
type GroupCounter interface {
	GroupMemberCount(ctx context.Context, groupID string) (int64, error)
}

var _ GroupCounter = (*graph.Client)(nil)

// groupSizeTimeout bounds the counting of an audience's groups.
const groupSizeTimeout = 10 * time.Second

// GroupSizes returns the number of transitive user members of each group
// Graph knows, for the compose page's audience size: guests, disabled
// accounts and members of two groups are counted as Graph counts them, so
// the sum is an upper bound. A group Graph does not know, or could not
// count in time, is absent; counting is best effort and never fails.
func (d *Dispatcher) GroupSizes(ctx context.Context, tenant string, ids []string) map[string]int64 {
	out := make(map[string]int64, len(ids))
	if d.usersFor == nil || len(ids) == 0 || !d.Serves(tenant) {
		return out
	}
	dir, err := d.usersFor(tenant)
	if err != nil {
		return out
	}
	counter, ok := dir.(GroupCounter)
	if !ok {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, groupSizeTimeout)
	defer cancel()
	for _, id := range ids[:min(len(ids), broadcast.MaxGroups)] {
		n, err := counter.GroupMemberCount(ctx, id)
		switch {
		case err == nil:
			out[id] = n
		case errors.Is(err, graph.ErrNotFound):
		case ctx.Err() != nil:
			return out
		default:
			d.log.Warn("group not counted", zap.String("tenant_id", tenant), zap.String("group_id", id), zap.Error(err))
		}
	}
	return out
}
