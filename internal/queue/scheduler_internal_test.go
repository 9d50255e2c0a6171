package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func testLane(cs ...BroadcastConsumer) *lane {
	s := NewScheduler(SchedulerConfig{Stage: broadcast.StageSend}, nil, nil, nil, zap.NewNop())
	l := s.newLane("11111111-2222-3333-4444-555555555555")
	l.update(cs)
	return l
}

// Broadcasts with waiting jobs share the turns by their priority's weight,
// interleaved rather than in runs.
func TestPickSharesByWeight(t *testing.T) {
	t.Parallel()
	l := testLane(
		BroadcastConsumer{BroadcastID: "big", Priority: broadcast.PriorityNormal, Pending: 1},
		BroadcastConsumer{BroadcastID: "other", Priority: broadcast.PriorityNormal, Pending: 1},
		BroadcastConsumer{BroadcastID: "hr", Priority: broadcast.PriorityUrgent, Pending: 1},
	)
	turns := map[string]int{}
	longestRun, run, last := 0, 0, ""
	for range 18 * 10 {
		f := l.pick()
		turns[f.id]++
		if f.id == last {
			run++
		} else {
			run, last = 1, f.id
		}
		longestRun = max(longestRun, run)
	}
	require.Equal(t, map[string]int{"big": 10, "other": 10, "hr": 160}, turns)
	require.LessOrEqual(t, longestRun, 16, "normal broadcasts get turns between the urgent one's")
}

// A broadcast without waiting jobs is skipped until its backoff ends or a
// listing shows jobs again.
func TestIdleFlowsAreSkipped(t *testing.T) {
	t.Parallel()
	l := testLane(BroadcastConsumer{BroadcastID: "a", Pending: 1}, BroadcastConsumer{BroadcastID: "b", Pending: 1})
	l.flows["a"].idleUntil = time.Now().Add(time.Hour)
	for range 5 {
		require.Equal(t, "b", l.pick().id)
	}
	l.flows["b"].idleUntil = time.Now().Add(time.Hour)
	require.Nil(t, l.pick())
	require.Positive(t, l.readyIn())

	l.update([]BroadcastConsumer{{BroadcastID: "a", Pending: 3}, {BroadcastID: "b"}})
	require.Zero(t, l.readyIn(), "jobs listed for a: look at once")
	require.Equal(t, "a", l.pick().id)

	l.update([]BroadcastConsumer{{BroadcastID: "a", Pending: 3}})
	require.NotContains(t, l.flows, "b", "a broadcast no longer listed is dropped")
}
