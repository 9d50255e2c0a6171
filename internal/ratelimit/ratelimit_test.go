package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func newStore(t *testing.T) *store.Store {
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { rdb.Close() })
	return store.New(rdb)
}

// A pause set by one process holds every other process's gate until it ends.
func TestPauseIsSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	a := ratelimit.NewTenants(1000, st, 10*time.Millisecond).For(tenant)
	b := ratelimit.NewTenants(1000, st, 10*time.Millisecond).For(tenant)

	require.NoError(t, a.Pause(context.Background(), 300*time.Millisecond))
	start := time.Now()
	require.NoError(t, b.Wait(context.Background()))
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "the other process waited out the pause")
	require.LessOrEqual(t, b.Remaining(), time.Duration(0))
}

func TestWaitStopsWithContext(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewTenants(1000, nil, time.Second).For("t")
	require.NoError(t, g.Pause(context.Background(), time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(ctx), context.DeadlineExceeded)
}

// The gate spaces requests evenly: n requests take at least (n-1)/rps.
func TestRateSpacing(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewTenants(100, nil, time.Second).For("t")
	start := time.Now()
	for range 21 {
		require.NoError(t, g.Wait(context.Background()))
	}
	require.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
}
