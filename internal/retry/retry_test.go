package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/retry"
)

// Delay doubles from Base to Max and is taken in the upper half of each
// step: with the random source pinned to its ends, the bounds are exact.
func TestDelayIsExponentialCappedAndJittered(t *testing.T) {
	t.Parallel()
	low := retry.Policy{Base: time.Second, Max: time.Minute, Rand: func(int64) int64 { return 0 }}
	high := low
	high.Rand = func(n int64) int64 { return n - 1 }
	for n, step := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 40: time.Minute} {
		require.Equal(t, step/2, low.Delay(n), "attempt %d, lowest", n)
		require.Equal(t, step, high.Delay(n), "attempt %d, highest", n)
	}
}

// With the real source, delays of one step spread over its upper half.
func TestDelaySpreads(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Base: time.Second, Max: time.Minute}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := p.Delay(3)
		require.GreaterOrEqual(t, d, 2*time.Second)
		require.LessOrEqual(t, d, 4*time.Second)
		lo, hi = min(lo, d), max(hi, d)
	}
	require.Less(t, lo, 2200*time.Millisecond, "reaches the bottom of the range")
	require.Greater(t, hi, 3800*time.Millisecond, "reaches the top of the range")
}

// Jitter never shortens a wait and stretches it by up to a quarter,
// spread over that range: jobs told the same Retry-After come back apart.
func TestJitterStretchesByUpToAQuarter(t *testing.T) {
	t.Parallel()
	require.Zero(t, retry.Jitter(0))
	d := 10 * time.Second
	seen := map[time.Duration]bool{}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		j := retry.Jitter(d)
		require.GreaterOrEqual(t, j, d)
		require.LessOrEqual(t, j, d+d/4)
		seen[j] = true
		lo, hi = min(lo, j), max(hi, j)
	}
	require.Greater(t, len(seen), 1900, "spread, not a few values")
	require.Less(t, lo, d+d/40)
	require.Greater(t, hi, d+d/4-d/40)
}

// Do stops at the first success, or after Attempts calls with the last
// error.
func TestDoIsBounded(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Base: time.Microsecond, Max: time.Millisecond, Attempts: 4}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return errors.New("no")
	})
	require.EqualError(t, err, "no")
	require.Equal(t, 4, calls)

	calls = 0
	require.NoError(t, p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("not yet")
		}
		return nil
	}))
	require.Equal(t, 2, calls)
}

// An error marked Permanent stops Do at once, and comes back unmarked.
func TestDoStopsAtAPermanentError(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Base: time.Microsecond, Max: time.Millisecond, Attempts: 4}
	refused := errors.New("refused")
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return fmt.Errorf("call: %w", retry.Permanent(refused))
	})
	require.Equal(t, 1, calls)
	require.Same(t, refused, err)
}

// Do gives up when its context ends during a wait.
func TestDoStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := retry.Policy{Base: time.Hour, Max: time.Hour, Attempts: 3, Rand: rand.Int64N}
	calls := 0
	err := p.Do(ctx, func(context.Context) error {
		calls++
		cancel()
		return errors.New("no")
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, calls)
}
