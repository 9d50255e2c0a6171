package ratelimit_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/teams"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// pauseLedger is what the test's processes know: when each 429 paused
// their tenant, and when each request was let through to be written.
type pauseLedger struct {
	mu     sync.Mutex
	pauses []pauseSeen
	bad    []string
}

type pauseSeen struct {
	proc        int
	known, ends time.Time
}

// recordingGuard lets the ticket decide, then checks the decision against
// every pause already known when it was asked.
type recordingGuard struct {
	t      *ratelimit.Ticket
	proc   int
	ledger *pauseLedger
}

func (g recordingGuard) Hold(ctx context.Context) error {
	asked := time.Now()
	if err := g.t.Hold(ctx); err != nil {
		return err
	}
	written := time.Now()
	g.ledger.mu.Lock()
	defer g.ledger.mu.Unlock()
	for _, p := range g.ledger.pauses {
		known := p.known
		if p.proc != g.proc {
			known = known.Add(ratelimit.RecheckAfter) // another process reads the shared pause this stale at most
		}
		if asked.After(known) && written.Before(p.ends.Add(-5*time.Millisecond)) {
			g.ledger.bad = append(g.ledger.bad, "a request let through into a pause of process "+string(rune('0'+p.proc)))
		}
	}
	return nil
}

func (g recordingGuard) Wrote() { g.t.Wrote() }

func (g recordingGuard) Throttled(d time.Duration) { g.t.Throttled(d) }

// Two processes send at a tenant's limit while Teams throttles it three
// times, and some requests are slow to reach their connection after their
// slot (a token refresh, a new connection; here all of them): no request is let through
// into a pause that any process knew of, the simulator sees no
// Retry-After violation, and every call is made.
func TestNoRequestLeavesIntoAPause(t *testing.T) {
	t.Parallel()
	const limit, n = 100, 400
	sim, err := teamsim.New(teamsim.Config{UsersPerTenant: 50, InstalledFraction: 1, ConnectorRPS: limit,
		Latency: 10 * time.Millisecond, LatencyJitter: 20 * time.Millisecond,
		// What a process knew is checked by the ledger below, to the
		// nanosecond; the simulator's count also sees how long the
		// goroutine that read a 429 took to be scheduled, tens of ms
		// under -race on a loaded 2-core machine (this one flaked at 5).
		RetryAfterTolerance: 100 * time.Millisecond,
		BotAppID:            "bot", BotAppPassword: "secret", TeamsAppID: "app"})
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	client, err := teams.NewBotClient(srv.URL+"/connector/", srv.URL+"/login", "bot", "secret", &http.Client{Timeout: 10 * time.Second})
	require.NoError(t, err)
	st := newStore(t)
	tenant := testenv.FreeTenant(t)
	users := sim.Users(teamsim.DefaultTenant)
	gates := []*ratelimit.Gate{ratelimit.NewTenants(limit, st).For(tenant), ratelimit.NewTenants(limit, st).For(tenant)}
	ledger := &pauseLedger{}
	convs := make([]string, len(users))
	for i, u := range users {
		require.NoError(t, gates[0].Wait(context.Background()))
		convs[i], err = client.CreateConversation(context.Background(), teamsim.DefaultTenant, u.ID)
		require.NoError(t, err)
	}

	var next, done atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proc := w % 2
			g := gates[proc]
			ctx := context.Background()
			for i := next.Add(1); i <= n; {
				ticket, err := g.Take(ctx)
				var backlog *ratelimit.BacklogError
				if errors.As(err, &backlog) {
					<-time.After(backlog.Wait)
					continue
				}
				require.NoError(t, err)
				<-time.After(time.Duration(rand.IntN(50)) * time.Millisecond) // slow to its connection
				_, err = client.Send(teams.WithGuard(ctx, recordingGuard{t: ticket, proc: proc, ledger: ledger}),
					convs[i%int64(len(convs))], []byte(`{"type":"message","text":"hi"}`))
				var terr *teams.Error
				if teams.Classify(err) == teams.Throttled && errors.As(err, &terr) {
					require.NoError(t, g.Pause(ctx, terr.RetryAfter))
					ledger.mu.Lock()
					ledger.pauses = append(ledger.pauses, pauseSeen{proc: proc, known: time.Now(), ends: time.Now().Add(g.Remaining())})
					ledger.mu.Unlock()
					continue
				}
				require.NoError(t, err)
				done.Add(1)
				i = next.Add(1)
			}
		}()
	}
	for _, at := range []int64{100, 200, 300} {
		testenv.Eventually(t, time.Minute, func() bool { return done.Load() >= at }, "calls go on")
		sim.InjectTenant(teamsim.DefaultTenant, teamsim.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second})
	}
	wg.Wait()
	require.EqualValues(t, n, done.Load())
	require.Empty(t, ledger.bad)
	l := sim.Ledger()
	require.GreaterOrEqual(t, l.Throttled, int64(3), "Teams throttled the tenant")
	require.Zero(t, l.RetryAfterViolations)
	t.Logf("%d calls, %d 429s, %d pauses seen", n, l.Throttled, len(ledger.pauses))
}

// A request that reaches its connection long after its slot would land
// among the next slots' requests: Hold lets that slot go and takes a new
// one, once per ticket.
func TestALateRequestTakesANewSlot(t *testing.T) {
	t.Parallel()
	g := ratelimit.NewTenants(1000, nil).For(testenv.FreeTenant(t))
	ctx := context.Background()
	ticket, err := g.Take(ctx)
	require.NoError(t, err)
	// Far beyond any tolerance (at most MaxMargin); later on a slow machine.
	<-time.After(4 * ratelimit.MaxMargin)
	require.NoError(t, ticket.Hold(ctx))
	require.EqualValues(t, 1, g.Missed(), "the late slot is let go")
	<-time.After(4 * ratelimit.MaxMargin)
	require.NoError(t, ticket.Hold(ctx), "a transport's retry on another connection asks again")
	require.EqualValues(t, 1, g.Missed(), "once per ticket")
	ticket.Wrote()
}
