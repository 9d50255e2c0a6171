package pipelinetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A broadcast to every user of a tenant of a few hundred, some without the
// app, some who blocked the bot, some disabled by the admin, with transient
// faults: the broadcast's counters equal the simulator's ledger.
func TestBroadcastToAllUsersMatchesLedger(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 400, InstalledFraction: 0.8, BlockedFraction: 0.05, DisabledFraction: 0.02,
		ErrorRate: 0.03, PreconditionRate: 0.02, ConnectorRPS: 400, GraphRPS: 200, Seed: 11,
	}, MaxRetries: 8})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Hello **everyone**"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 3*time.Minute)

	var members, blocked int64
	for _, u := range e.Users() {
		if u.UserType == "Guest" {
			continue
		}
		members++
		if u.Blocked || u.Disabled {
			blocked++
		}
	}
	l := e.Sim.Ledger()
	c := b.Counts
	require.Equal(t, members, c.Total, "guests are not recipients")
	require.Equal(t, blocked, c.Blocked)
	require.Zero(t, c.Failed)
	require.Equal(t, members-blocked, c.Sent)
	require.Equal(t, c.Sent, l.Deliveries)
	require.Equal(t, c.Sent, l.DeliveredUsers)
	require.Zero(t, l.Duplicates)
	require.Zero(t, l.RetryAfterViolations)
	for _, u := range e.Users() {
		n := len(e.Sim.UserDeliveries(e.Tenant, u.ID))
		if u.UserType == "Guest" || u.Blocked || u.Disabled {
			require.Zero(t, n, "user %+v", u)
		} else {
			require.Equal(t, 1, n, "user %+v", u)
		}
	}
	// The recipients listing agrees with the counters.
	page, _, err := e.Store.Recipients(context.Background(), b.ID, broadcast.StateBlocked, "", 1000)
	require.NoError(t, err)
	require.Len(t, page, int(blocked))
}

// Three sender processes share the tenant's budget: together they stay under
// the limit (a 429 or two at most), and the broadcast takes as long as the limit
// says, not a third of it.
func TestSendersShareTheTenantBudget(t *testing.T) {
	t.Parallel()
	const users, limit, pace = 90, 20, 18
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: users, InstalledFraction: 1, ConnectorRPS: limit, Seed: 21,
	}, Senders: 3, TenantRPS: pace, SendConcurrency: 8})
	start := time.Now()
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "shared"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	l := e.Sim.Ledger()
	require.Equal(t, b.Counts.Total, b.Counts.Sent)
	require.EqualValues(t, b.Counts.Sent, l.Deliveries)
	// Reserved slots are spaced, but on a loaded machine a delayed request
	// can arrive next to later ones: a 429 or two is the machine's, not the
	// budget's. Three senders each at the pace would draw dozens.
	require.LessOrEqual(t, l.Throttled, int64(2), "the three senders together stay under the tenant's limit")
	require.GreaterOrEqual(t, time.Since(start), time.Duration(b.Counts.Sent-1)*time.Second/pace)
}

// One bot serving two tenants: each broadcast names its tenant, and one
// tenant's throttling never slows the other: while tenant A waits out a
// Retry-After (set as a sender does on a 429), tenant B keeps delivering.
func TestTenantsAreIndependent(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Tenants: 2, Sim: teamsim.Config{
		UsersPerTenant: 100, InstalledFraction: 1, ConnectorRPS: 25, Seed: 31,
	}, TenantRPS: 24})
	a, b := e.Tenants[0], e.Tenants[1]
	const pause = 5 * time.Second
	// Redis (on this host's clock) starts the pause after this instant; the
	// senders wait for it to end and then send at once, so the bound must
	// not depend on how soon this goroutine runs again after the call.
	pausedUntil := time.Now().Add(pause - 10*time.Millisecond)
	_, _, _, err := e.Store.Throttle(context.Background(), a, pause, 24)
	require.NoError(t, err)

	ba := e.Create(broadcast.CreateRequest{TenantID: a, Message: broadcast.Message{Text: "to A"}, Audience: broadcast.Audience{AllUsers: true}})
	bb := e.Create(broadcast.CreateRequest{TenantID: b, Message: broadcast.Message{Text: "to B"}, Audience: broadcast.Audience{AllUsers: true}})
	ba = e.WaitCompleted(ba.ID, 2*time.Minute)
	bb = e.WaitCompleted(bb.ID, 2*time.Minute)
	require.Equal(t, ba.Counts.Total, ba.Counts.Sent)
	require.Equal(t, bb.Counts.Total, bb.Counts.Sent)
	require.Equal(t, a, ba.TenantID)
	require.Equal(t, b, bb.TenantID)

	during := func(tenant string) (n int) {
		for _, u := range e.Sim.Users(tenant) {
			for _, d := range e.Sim.UserDeliveries(tenant, u.ID) {
				if d.At.Before(pausedUntil) {
					n++
				}
			}
		}
		return n
	}
	require.Zero(t, during(a), "tenant A waited out its pause")
	require.Positive(t, during(b), "tenant B kept delivering while tenant A was paused")
	require.Zero(t, e.Sim.Ledger().RetryAfterViolations)
}
