package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
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
	require.NoError(t, b.Wait(context.Background()))
	// By Redis's clock, not the test's: how long the wait took depends on
	// how soon the test got Pause's answer on a loaded machine.
	left, err := st.PauseLeft(context.Background(), tenant)
	require.NoError(t, err)
	require.LessOrEqual(t, left, time.Duration(0), "the other process waited out the pause")
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
	_, _, ok, err := st.Reserve(context.Background(), tenant, 1.0/60, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, _, ok, err = st.Reserve(context.Background(), tenant, 1.0/60, time.Hour)
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

// steady never probes nor ends an episode within a test: whatever the
// machine's speed, only the 429s the test makes move the rate.
var steady = store.Adaptive{Decrease: 0.9, Floor: 0.1, MinRPS: 1, Hold: time.Hour, Quiet: time.Hour, Probe: 0.02}

// A burst of 429s (every request in flight when the limit tripped) lowers
// the tenant's rate once, and every process paces at the lowered rate.
func TestLearnedRateIsSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	st := newStore(t).WithAdaptive(steady)
	tenant := testenv.FreeTenant(t)
	a := ratelimit.NewTenants(1000, st).For(tenant)
	b := ratelimit.NewTenants(1000, st).For(tenant)
	require.Equal(t, 1000.0, b.Rate())

	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, a.Pause(context.Background(), 100*time.Millisecond))
		}()
	}
	wg.Wait()
	require.InDelta(t, 900, a.Rate(), 1e-9)
	require.NoError(t, b.Wait(context.Background()))
	require.InDelta(t, 900, b.Rate(), 1e-9, "the other process learned the rate from its slot")
}

// After a quiet period the rate climbs back to the configured one, exactly,
// and never above it.
func TestRateClimbsBackToConfigured(t *testing.T) {
	t.Parallel()
	a := steady
	a.Hold, a.Quiet, a.Probe = time.Millisecond, 50*time.Millisecond, 0.5
	st := newStore(t).WithAdaptive(a)
	tenant := testenv.FreeTenant(t)
	g := ratelimit.NewTenants(1000, st).For(tenant)
	require.NoError(t, g.Pause(context.Background(), time.Millisecond))
	require.Less(t, g.Rate(), 1000.0)
	testenv.Eventually(t, 10*time.Second, func() bool {
		require.NoError(t, g.Wait(context.Background()))
		require.LessOrEqual(t, g.Rate(), 1000.0)
		return g.Rate() == 1000
	}, "the rate probes back up to the configured one")
}

// outage makes the shared budget unreachable while down is set.
type outage struct {
	ratelimit.Shared
	down atomic.Bool
}

func (o *outage) ReserveMargin(ctx context.Context, tenant string, rps float64, ahead, margin time.Duration) (ratelimit.Slot, error) {
	if o.down.Load() {
		return ratelimit.Slot{}, errors.New("redis: connection refused")
	}
	return o.Shared.ReserveMargin(ctx, tenant, rps, ahead, margin)
}

// Without Redis a gate goes on at the rate it last learned, not at the
// configured one.
func TestFallbackKeepsTheLearnedRate(t *testing.T) {
	t.Parallel()
	sh := &outage{Shared: newStore(t).WithAdaptive(steady)}
	g := ratelimit.NewTenants(1000, sh).For(testenv.FreeTenant(t))
	require.NoError(t, g.Pause(context.Background(), time.Millisecond))
	sh.down.Store(true)
	for range 5 {
		require.NoError(t, g.Wait(context.Background()))
	}
	require.Equal(t, int64(5), g.Fallbacks())
	require.InDelta(t, 900, g.Rate(), 1e-9)
}

// A tenant whose real limit is below the configured rate: three processes
// that learn it get far fewer 429s for the same deliveries than the same
// processes pacing at the configured rate.
func TestLearningALowerLimitCutsThe429s(t *testing.T) {
	t.Parallel() // about 30 s of paced calls
	const configured, limit, n = 100, 70, 1200
	run := func(t *testing.T, a store.Adaptive) int64 {
		sim, err := teamsim.New(teamsim.Config{UsersPerTenant: 50, InstalledFraction: 1, ConnectorRPS: limit,
			BotAppID: "bot", BotAppPassword: "secret", TeamsAppID: "app"})
		require.NoError(t, err)
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		client, err := teams.NewBotClient(srv.URL+"/connector/", srv.URL+"/login", "bot", "secret", &http.Client{Timeout: 10 * time.Second})
		require.NoError(t, err)
		st := newStore(t).WithAdaptive(a)
		tenant := testenv.FreeTenant(t) // the budget's keys; the simulator's tenant is its default
		users := sim.Users(teamsim.DefaultTenant)
		var gates []*ratelimit.Gate
		for range 3 {
			gates = append(gates, ratelimit.NewTenants(configured, st).For(tenant))
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := range 9 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := gates[w%3]
				for i := next.Add(1); i <= n; i = next.Add(1) {
					for !call(t, g, client, users[i%int64(len(users))].ID) {
					}
				}
			}()
		}
		wg.Wait()
		l := sim.Ledger()
		t.Logf("%d calls, %d 429s (%d Retry-After violations), tenant rate now %.1f/s", n, l.Throttled, l.RetryAfterViolations, gates[0].Rate())
		return l.Throttled
	}
	var learning, fixed int64
	t.Run("group", func(t *testing.T) {
		t.Run("learning", func(t *testing.T) { t.Parallel(); learning = run(t, store.DefaultAdaptive) })
		t.Run("fixed", func(t *testing.T) { t.Parallel(); fixed = run(t, store.Adaptive{Decrease: 1}) })
	})
	if t.Failed() {
		return
	}
	// Typically 6 against 17 to 22; the margin leaves room for a loaded
	// machine, whose late wake-ups add 429s to both runs.
	require.Less(t, 3*learning, 2*fixed, "429s learning %d, at the configured rate %d", learning, fixed)
}

// call makes one Connector call through the gate and reports whether it is
// done; a 429 pauses the tenant and asks for the call again.
func call(t *testing.T, g *ratelimit.Gate, client *teams.Client, user string) bool {
	ctx := context.Background()
	if err := g.Wait(ctx); err != nil {
		var backlog *ratelimit.BacklogError
		require.ErrorAs(t, err, &backlog)
		// What a sender does by handing the job back for backlog.Wait.
		<-time.After(backlog.Wait)
		return false
	}
	_, err := client.CreateConversation(ctx, teamsim.DefaultTenant, user)
	var terr *teams.Error
	if teams.Classify(err) == teams.Throttled && errors.As(err, &terr) {
		require.NoError(t, g.Pause(ctx, terr.RetryAfter))
		return false
	}
	require.NoError(t, err)
	return true
}

// A caller woken well after its slot lets it go and takes the next one
// rather than send beside the following requests; it does so a bounded
// number of times, then sends however late it is.
func TestLateWakeTakesANewSlot(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	tenants := ratelimit.NewTenants(10, st) // slots 100 ms apart: one oversleep misses one slot
	// A first request takes the current slot, so the next ones must sleep.
	require.NoError(t, tenants.For(tenant).Wait(context.Background()))

	g := tenants.For(tenant)
	var sleeps atomic.Int32
	late := func(n int32) func(ctx context.Context, d time.Duration) error {
		return func(ctx context.Context, d time.Duration) error {
			if sleeps.Add(1) <= n {
				d += 30 * time.Millisecond // a loaded machine woke us late
			}
			return ratelimit.Sleep(ctx, d)
		}
	}
	g.SetSleep(late(1))
	require.NoError(t, g.Wait(context.Background()))
	// At least the late slot was let go; a loaded machine may wake late on
	// its own, but never more than the bound.
	first := g.Missed()
	require.GreaterOrEqual(t, first, int64(1), "the late slot was let go, the next one taken")
	require.LessOrEqual(t, first, int64(2))

	sleeps.Store(0)
	g.SetSleep(late(100))
	require.NoError(t, g.Wait(context.Background()), "always late: sends anyway after a bounded number of misses")
	require.EqualValues(t, 2, g.Missed()-first)
}

// WaitWithin sits out a pause shorter than its hold, in every process, and
// sends a longer one away as Wait does.
func TestWaitWithinSitsOutShortPauses(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	a := ratelimit.NewTenants(1000, st).For(tenant)
	b := ratelimit.NewTenants(1000, st).For(tenant)
	require.NoError(t, a.Pause(context.Background(), time.Second))
	require.NoError(t, b.WaitWithin(context.Background(), 5*time.Second), "a 1 s pause is waited out")
	left, err := st.PauseLeft(context.Background(), tenant)
	require.NoError(t, err)
	require.LessOrEqual(t, left, time.Duration(0), "not before the pause ended")

	require.NoError(t, a.Pause(context.Background(), 3*time.Second))
	var backlog *ratelimit.BacklogError
	require.ErrorAs(t, b.WaitWithin(context.Background(), 500*time.Millisecond), &backlog, "a pause longer than the hold is sent away")
}

// Each 429 is counted for its tenant where it pauses the gate; only the
// first starts a pause. The pause's end and the rate the 429 lowered are
// reported too.
func TestThrottlesAndPausesAreCountedPerTenant(t *testing.T) {
	t.Parallel()
	st := newStore(t).WithAdaptive(steady) // every episode lowers the rate
	tenant := testenv.FreeTenant(t)
	g := ratelimit.NewTenants(100, st).For(tenant)
	value := func(name string) float64 {
		f, err := metrics.Gather(metrics.Registry)
		require.NoError(t, err)
		v, _ := f.Sum(name, map[string]string{"tenant": tenant})
		return v
	}
	require.Equal(t, 100.0, value("broadcast_tenant_rate_rps"))
	require.Zero(t, value("broadcast_tenant_throttled_total"))

	before := float64(time.Now().Unix())
	for range 3 {
		require.NoError(t, g.Pause(context.Background(), 2*time.Second))
	}
	require.Equal(t, 3.0, value("broadcast_tenant_throttled_total"))
	require.Equal(t, 1.0, value("broadcast_tenant_pauses_total"))
	require.Greater(t, value("broadcast_tenant_paused_until_seconds"), before)
	require.Less(t, value("broadcast_tenant_rate_rps"), 100.0, "the first 429 lowered the rate")
	require.Equal(t, g.Rate(), value("broadcast_tenant_rate_rps"))
}
