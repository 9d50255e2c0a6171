package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func TestSteadyRateSkipsStartAndTail(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// A slow start (10 in 5 s), then 100/s, then a slow tail.
	samples := []sample{{at: at(0)}, {at: at(5), done: 10}, {at: at(6), done: 110}, {at: at(13), done: 810}, {at: at(14), done: 910}, {at: at(30), done: 1000}}
	require.InDelta(t, 100, steadyRate(samples, 1000), 0.001)
	require.Zero(t, steadyRate(samples[:2], 1000), "90% never reached")
}

func TestInstallsDone(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	samples := []sample{
		{at: t0, expanding: true}, // nothing installing yet: the expansion has not got there
		{at: t0.Add(time.Second), installing: 5},
		{at: t0.Add(3 * time.Second)},
	}
	require.Equal(t, 3*time.Second, installsDone(samples, t0))
}

func TestTotal(t *testing.T) {
	t.Parallel()
	a := &broadcast.Broadcast{ID: "a", Status: broadcast.StatusCompleted, Counts: broadcast.Counts{Total: 3, Sent: 3}}
	b := &broadcast.Broadcast{ID: "b", Status: broadcast.StatusSending, Counts: broadcast.Counts{Total: 5, Sent: 1, Pending: 4}}
	c := &broadcast.Broadcast{ID: "c", Status: broadcast.StatusExpanding, Counts: broadcast.Counts{Total: 1, Installing: 1}}
	require.Same(t, a, total([]*broadcast.Broadcast{a}))
	sum := total([]*broadcast.Broadcast{a, b})
	require.Equal(t, broadcast.StatusSending, sum.Status)
	require.Equal(t, broadcast.Counts{Total: 8, Sent: 4, Pending: 4}, sum.Counts)
	require.Equal(t, broadcast.StatusExpanding, total([]*broadcast.Broadcast{a, c, b}).Status)
	require.Equal(t, broadcast.StatusCompleted, total([]*broadcast.Broadcast{a, a}).Status)
}
