package install_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Users with the app (their conversation comes from the Connector, no
// install call) and without it (installed: 201) both get a conversation and
// the message; a user Graph does not know fails with a reason.
func TestInstallPath(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 0.5, Seed: 3}})
	ctx := context.Background()
	users := e.Users()
	var ids []string
	installed := 0
	for _, u := range users {
		ids = append(ids, u.ID)
		if u.Installed {
			installed++
		}
	}
	require.Positive(t, installed)
	require.Less(t, installed, len(users))
	unknown := "99999999-9999-9999-9999-999999999999"
	// A user Graph no longer knows whose profile is still cached (deleted
	// since the last directory sync) passes resolution and fails install.
	require.NoError(t, e.Store.PutProfiles(ctx, e.Tenant, []broadcast.Profile{{ID: unknown, DisplayName: "Gone"}}))
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "install"}, Audience: broadcast.Audience{UserIDs: append(ids, unknown)}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	require.Equal(t, broadcast.Counts{Total: int64(len(users) + 1), Sent: int64(len(users)), Failed: 1}, b.Counts)
	l := e.Sim.Ledger()
	require.EqualValues(t, len(users)-installed, l.Installs, "201 for every user without the app")
	require.Zero(t, l.InstallConflicts, "no install call for a user who had the app")

	r, err := e.Store.Recipient(ctx, b.ID, unknown)
	require.NoError(t, err)
	require.Equal(t, broadcast.StateFailed, r.State)
	require.Equal(t, broadcast.ReasonUserNotFound, r.Reason)

	convs, err := e.Store.Conversations(ctx, e.Tenant, ids)
	require.NoError(t, err)
	require.Len(t, convs, len(users), "every installed user's conversation is cached")

	// A second broadcast finds every conversation cached: no Graph call.
	before := e.Sim.Ledger().Requests["graph_install"]
	b2 := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "again"}, Audience: broadcast.Audience{UserIDs: ids}})
	b2 = e.WaitCompleted(b2.ID, 2*time.Minute)
	require.EqualValues(t, len(users), b2.Counts.Sent)
	require.Equal(t, before, e.Sim.Ledger().Requests["graph_install"])
}

// When Graph's lookups are saturated, conversations come from the Connector
// instead (users without the app are still installed through Graph first);
// everyone deliverable gets the message once, and a user whose admin
// disabled the bot is recorded as blocked.
func TestConnectorRouteWhenGraphIsSaturated(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 80, InstalledFraction: 0.8, DisabledFraction: 0.05, GraphRPS: 4, ConnectorRPS: 200, Seed: 9,
	}, GraphRPS: 4, TenantRPS: 150})
	// The population before the run: installs change it.
	var members, notInstalled, disabled int64
	for _, u := range e.Users() {
		if u.UserType == "Guest" {
			continue
		}
		members++
		if !u.Installed {
			notInstalled++
		}
		if u.Disabled || u.Blocked {
			disabled++
		}
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "quickly"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	l := e.Sim.Ledger()
	require.Positive(t, l.Requests["connector_create"], "some conversations came from the Connector")
	require.Less(t, l.Requests["graph_installed_get"], 2*members, "not every user cost two Graph lookups")
	require.Equal(t, broadcast.Counts{Total: members, Sent: members - disabled, Blocked: disabled}, b.Counts)
	require.EqualValues(t, b.Counts.Sent, l.Deliveries)
	require.Zero(t, l.Duplicates)
	require.Zero(t, l.RetryAfterViolations)
	require.LessOrEqual(t, l.Installs, notInstalled, "only users without the app were installed")
}

// Users who all have the app and no cached conversation: the Connector is
// asked first, and while the senders keep its budget booked the installer
// turns to Graph's lookups, so both budgets are used; nobody is installed.
func TestBothRoutesWhenTheConnectorIsFull(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 150, InstalledFraction: 1, ConnectorRPS: 20, GraphRPS: 30, Seed: 21,
	}, GraphRPS: 30, TenantRPS: 20})
	var members int64
	for _, u := range e.Users() {
		if u.UserType != "Guest" {
			members++
		}
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "both"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 3*time.Minute)

	l := e.Sim.Ledger()
	require.Equal(t, broadcast.Counts{Total: members, Sent: members}, b.Counts)
	require.Positive(t, l.Requests[teamsim.KindConnectorCreate], "conversations from the Connector")
	require.Positive(t, l.Requests[teamsim.KindGraphChat], "conversations from Graph")
	require.LessOrEqual(t, l.Requests[teamsim.KindConnectorCreate]+l.Requests[teamsim.KindGraphChat], members+l.Throttled,
		"one route per user (and a retry per 429)")
	require.Zero(t, l.Installs+l.InstallConflicts, "no install call for users who have the app")
	require.EqualValues(t, members, l.Deliveries)
	require.Zero(t, l.Duplicates)
	require.Zero(t, l.RetryAfterViolations)
}
