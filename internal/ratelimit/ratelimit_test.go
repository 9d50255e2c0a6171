package ratelimit_test

import (
	"context"
	"sync"
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
	a := ratelimit.NewTenants(1000, st).For(tenant)
	b := ratelimit.NewTenants(1000, st).For(tenant)

	require.NoError(t, a.Pause(context.Background(), 200*time.Millisecond))
	start := time.Now()
	require.NoError(t, b.Wait(context.Background()))
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the other process waited out the pause")
}

// A longer pause is not waited out in place: the caller is told to come
// back, so its worker can serve other tenants meanwhile.
func TestLongPauseSendsTheJobAway(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	a := ratelimit.NewTenants(1000, st).For(tenant)
	b := ratelimit.NewTenants(1000, st).For(tenant)
	require.NoError(t, a.Pause(context.Background(), 3*time.Second))
	var backlog *ratelimit.BacklogError
	require.ErrorAs(t, a.Wait(context.Background()), &backlog)
	require.True(t, backlog.Paused)
	// The other process learns of the pause from its slot.
	err := b.Wait(context.Background())
	require.ErrorAs(t, err, &backlog)
	require.Greater(t, backlog.Wait, 2*time.Second)
}

// Three processes sharing a tenant's budget send at its rate together:
// n requests take at least (n-1)/rps, however they are spread.
func TestBudgetIsSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	const rps, n = 100, 61
	var gates []*ratelimit.Gate
	for range 3 {
		gates = append(gates, ratelimit.NewTenants(rps, st).For(tenant))
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, gates[i%3].Wait(context.Background()))
		}()
	}
	wg.Wait()
	require.GreaterOrEqual(t, time.Since(start), time.Duration(n-1)*time.Second/rps)
	for _, g := range gates {
		require.Zero(t, g.Fallbacks())
	}
}

// A budget booked far ahead sends the caller away instead of holding it.
func TestBacklogIsRefused(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	_, ok, err := st.Reserve(context.Background(), tenant, time.Minute, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = st.Reserve(context.Background(), tenant, time.Minute, time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "the second slot is a minute ahead")
	g := ratelimit.NewTenants(1.0/60, st).For(tenant)
	err = g.Wait(context.Background())
	var backlog *ratelimit.BacklogError
	require.ErrorAs(t, err, &backlog)
	require.Greater(t, backlog.Wait, ratelimit.DefaultAhead)
}

func TestWaitStopsWithContext(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewTenants(1000, nil).For("t")
	require.NoError(t, g.Pause(context.Background(), 200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(ctx), context.DeadlineExceeded)
}

// Without Redis a gate paces its own process: n requests take at least (n-1)/rps.
func TestLocalSpacing(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewTenants(100, nil).For("t")
	start := time.Now()
	for range 21 {
		require.NoError(t, g.Wait(context.Background()))
	}
	require.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
}
