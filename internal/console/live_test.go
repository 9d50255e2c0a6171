package console

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func TestProgressRateAndETA(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	size := int64(1000)
	b := &broadcast.Broadcast{Status: broadcast.StatusSending, AudienceSize: &size,
		Counts: broadcast.Counts{Total: 1000, Pending: 1000}}
	p, samples := progressOf(b, t0, nil)
	require.Zero(t, p.Rate)
	require.Nil(t, p.ETASeconds, "no rate yet, no ETA")

	// 200 done in 4 s: 50/s, 800 left: 16 s.
	b.Counts = broadcast.Counts{Total: 1000, Pending: 800, Sent: 190, Blocked: 10}
	p, samples = progressOf(b, t0.Add(4*time.Second), samples)
	require.Equal(t, 50.0, p.Rate)
	require.Equal(t, int64(16), *p.ETASeconds)
	require.Equal(t, "16 s", p.ETA)

	// The window forgets samples older than rateWindow: 20 s later, 100
	// more in the last 16 s.
	b.Counts = broadcast.Counts{Total: 1000, Pending: 700, Sent: 290, Blocked: 10}
	p, samples = progressOf(b, t0.Add(20*time.Second), samples)
	require.Len(t, samples, 2)
	require.Equal(t, 6.3, p.Rate) // 100 / 16 s, rounded

	// An ended broadcast has no ETA, and is final.
	now := t0.Add(30 * time.Second)
	b.CompletedAt, b.Status = &now, broadcast.StatusCompleted
	b.Counts = broadcast.Counts{Total: 1000, Sent: 990, Blocked: 10}
	p, _ = progressOf(b, now, samples)
	require.True(t, p.Final)
	require.Nil(t, p.ETASeconds)
}

func TestTimeLeft(t *testing.T) {
	t.Parallel()
	for s, want := range map[int64]string{0: "0 s", 59: "59 s", 60: "1 min 00 s", 125: "2 min 05 s", 3599: "59 min 59 s", 3600: "1 h 00 min", 7380: "2 h 03 min", 90000: "25 h 00 min"} {
		require.Equal(t, want, timeLeft(s), "%d s", s)
	}
}
