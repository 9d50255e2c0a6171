package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// steady never probes nor ends an episode within a test: whatever the
// machine's speed, only the 429s the test sends move the rate.
var steady = Adaptive{Decrease: 0.9, Floor: 0.1, MinRPS: 1, Hold: time.Hour, Quiet: time.Hour, Probe: 0.02}

func nextSlot(t *testing.T, s *Store, tenant string) float64 {
	t.Helper()
	v, err := s.rdb.Get(context.Background(), s.rateKey(tenant)).Result()
	require.NoError(t, err)
	f, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err)
	return f
}

// A tenant nobody has paced has no known rate; once a sender reserves a
// slot, the configured rate is the current one.
func TestBudgetShowsConfiguredRate(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := testenv.FreeTenant(t)
	b, err := s.TenantBudget(ctx, tenant)
	require.NoError(t, err)
	require.Zero(t, b.RPS)
	require.Zero(t, b.ConfiguredRPS)

	_, rate, ok, err := s.Reserve(ctx, tenant, 50, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 50.0, rate)
	b, err = s.TenantBudget(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, Budget{PausedFor: b.PausedFor, BookedAhead: b.BookedAhead, RPS: 50, ConfiguredRPS: 50}, b)
}

// The 429s of one episode (every request in flight when the limit tripped)
// lower the rate once, and slots are then spaced by the lower rate.
func TestThrottleLowersOncePerEpisode(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t).WithAdaptive(steady), context.Background()
	tenant := testenv.FreeTenant(t)
	for i := range 20 {
		left, rate, lowered, err := s.Throttle(ctx, tenant, time.Second, 100)
		require.NoError(t, err)
		require.Equal(t, i == 0, lowered, "429 %d", i)
		require.InDelta(t, 90, rate, 1e-9)
		require.Greater(t, left, time.Duration(0))
	}
	b, err := s.TenantBudget(ctx, tenant)
	require.NoError(t, err)
	require.InDelta(t, 90, b.RPS, 1e-9)
	require.Equal(t, 100.0, b.ConfiguredRPS)

	// Both slots fall at the end of the pause, 1/90 s apart.
	_, rate, ok, err := s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.InDelta(t, 90, rate, 1e-9)
	first := nextSlot(t, s, tenant)
	_, _, _, err = s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.InDelta(t, 1e6/90, nextSlot(t, s, tenant)-first, 1, "µs between slots")
}

// A 429 after the hold is a new episode and lowers the rate again; every
// other process sees the same rate.
func TestNewEpisodeLowersAgain(t *testing.T) {
	t.Parallel()
	a := steady
	a.Hold = time.Millisecond
	s, ctx := newStore(t).WithAdaptive(a), context.Background()
	other := storeUnder(t, s.Keyspace).WithAdaptive(a)
	tenant := testenv.FreeTenant(t)
	_, rate, lowered, err := s.Throttle(ctx, tenant, time.Millisecond, 100)
	require.NoError(t, err)
	require.True(t, lowered)
	require.InDelta(t, 90, rate, 1e-9)
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, rate, lowered, err = other.Throttle(ctx, tenant, time.Millisecond, 100)
		require.NoError(t, err)
		return lowered
	}, "a 429 after the hold starts a new episode")
	require.InDelta(t, 81, rate, 1e-9)
	_, rate, _, err = s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.InDelta(t, 81, rate, 1e-9)
}

// However many episodes, the rate stays at its floor: 10% of the configured
// rate, at least 1/s, and never above the configured rate.
func TestFloorHolds(t *testing.T) {
	t.Parallel()
	a := steady
	a.Hold = 0 // every 429 is an episode of its own
	s, ctx := newStore(t).WithAdaptive(a), context.Background()
	for _, c := range []struct{ cfg, floor float64 }{{50, 5}, {5, 1}, {0.5, 0.5}} {
		tenant := testenv.FreeTenant(t)
		var rate float64
		for range 60 {
			var err error
			_, rate, _, err = s.Throttle(ctx, tenant, 0, c.cfg)
			require.NoError(t, err)
			require.GreaterOrEqual(t, rate, c.floor-1e-9)
		}
		require.InDelta(t, c.floor, rate, 1e-9, "configured %g", c.cfg)
	}
}

// Probing starts only after the pause and the quiet period, climbs back to
// exactly the configured rate, and never above it.
func TestRateProbesBackUp(t *testing.T) {
	t.Parallel()
	a := steady
	a.Quiet, a.Probe = 100*time.Millisecond, 0.5 // 90 -> 100 in 0.2 s
	s, ctx := newStore(t).WithAdaptive(a), context.Background()

	paused := testenv.FreeTenant(t)
	_, _, _, err := s.Throttle(ctx, paused, time.Hour, 100)
	require.NoError(t, err)
	b, err := s.TenantBudget(ctx, paused)
	require.NoError(t, err)
	require.InDelta(t, 90, b.RPS, 1e-9, "no probing while paused")

	tenant := testenv.FreeTenant(t)
	_, _, _, err = s.Throttle(ctx, tenant, time.Millisecond, 100)
	require.NoError(t, err)
	last := 0.0
	testenv.Eventually(t, 10*time.Second, func() bool {
		b, err := s.TenantBudget(ctx, tenant)
		require.NoError(t, err)
		require.GreaterOrEqual(t, b.RPS, last, "the climb only goes up")
		require.LessOrEqual(t, b.RPS, 100.0)
		last = b.RPS
		return b.RPS == 100
	}, "the rate climbs back to the configured one")
	_, rate, _, err := s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 100.0, rate)
	// A process configured lower is never paced above its own rate.
	_, rate, _, err = s.Reserve(ctx, tenant, 40, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 40.0, rate)
}

// An isolated 429 pauses and widens the margin between slots but leaves
// the rate alone; a second episode soon after it is a lower limit and
// lowers the rate.
func TestIsolatedThrottleWidensRepeatedLowers(t *testing.T) {
	t.Parallel()
	a := steady
	a.Hold = time.Millisecond // the second 429 below is another episode
	a.Isolation, a.Widen, a.MaxMargin = time.Hour, 4*time.Millisecond, 30*time.Millisecond
	s, ctx := newStore(t).WithAdaptive(a), context.Background()
	tenant := testenv.FreeTenant(t)

	left, rate, lowered, err := s.Throttle(ctx, tenant, time.Millisecond, 100)
	require.NoError(t, err)
	require.False(t, lowered, "an isolated 429 does not lower the rate")
	require.Equal(t, 100.0, rate)
	require.Greater(t, left, time.Duration(0), "it pauses")
	testenv.Eventually(t, 5*time.Second, func() bool {
		left, err := s.PauseLeft(ctx, tenant)
		require.NoError(t, err)
		return left <= 0
	}, "the pause ends")

	// Slots are spaced by (1 s + own margin 2 ms + widening 4 ms) / rate.
	// At 1/s the second reservation finds the first one's next slot still
	// ahead, however slow this machine is, so it follows it exactly.
	_, err = s.ReserveMargin(ctx, tenant, 1, time.Minute, 2*time.Millisecond)
	require.NoError(t, err)
	first := nextSlot(t, s, tenant)
	_, err = s.ReserveMargin(ctx, tenant, 1, time.Minute, 2*time.Millisecond)
	require.NoError(t, err)
	require.InDelta(t, 1.006e6, nextSlot(t, s, tenant)-first, 1, "µs between slots")
	// The margin never exceeds the bound.
	third := nextSlot(t, s, tenant)
	_, err = s.ReserveMargin(ctx, tenant, 1, time.Minute, time.Second)
	require.NoError(t, err)
	require.InDelta(t, 1.03e6, nextSlot(t, s, tenant)-third, 1, "µs between slots")

	testenv.Eventually(t, 5*time.Second, func() bool {
		_, rate, lowered, err = s.Throttle(ctx, tenant, time.Millisecond, 100)
		require.NoError(t, err)
		return lowered
	}, "a second episode within the isolation lowers the rate")
	require.InDelta(t, 90, rate, 1e-9)
}

// A rate above the real limit trips it again within about a second of each
// pause, so only an episode that soon after the last pause lowers the rate.
// One long after it is isolated (jitter, a loaded host) and widens the
// margin; but once a lower limit has been learned, the next episode lowers
// the rate again wherever it falls: the climb has found the limit.
func TestOnlyAnEpisodeSoonAfterThePauseLowers(t *testing.T) {
	t.Parallel()
	a := steady
	a.Hold, a.Isolation, a.Widen, a.MaxMargin = time.Millisecond, 100*time.Millisecond, 4*time.Millisecond, 30*time.Millisecond
	s, ctx := newStore(t).WithAdaptive(a), context.Background()
	tenant := testenv.FreeTenant(t)
	pauseEnds := func() {
		t.Helper()
		_, _, lowered, err := s.Throttle(ctx, tenant, time.Millisecond, 100)
		require.NoError(t, err)
		require.False(t, lowered, "an episode long after the last pause is isolated")
		// The sleep only makes sure the next 429 comes more than the
		// isolation after this pause: a slow machine makes it later still.
		time.Sleep(3 * a.Isolation)
	}
	pauseEnds()
	pauseEnds()
	b, err := s.TenantBudget(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, 100.0, b.RPS, "isolated episodes leave the rate alone")

	// Soon after the pause: a repeat. An hour of isolation makes "soon"
	// hold on any machine.
	soon := a
	soon.Isolation = time.Hour
	_, rate, lowered, err := s.WithAdaptive(soon).Throttle(ctx, tenant, time.Millisecond, 100)
	require.NoError(t, err)
	require.True(t, lowered, "an episode soon after the last pause lowers the rate")
	require.InDelta(t, 90, rate, 1e-9)

	// Below the configured rate (steady never climbs back), an episode long
	// after the pause lowers it again.
	time.Sleep(3 * a.Isolation)
	_, rate, lowered, err = s.Throttle(ctx, tenant, time.Millisecond, 100)
	require.NoError(t, err)
	require.True(t, lowered, "a limit already learned: the episode lowers the rate")
	require.InDelta(t, 81, rate, 1e-9)
}
