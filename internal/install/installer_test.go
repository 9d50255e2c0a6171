package install_test

import (
	"context"
	"net/http"
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

// Teams creates a new install's chat seconds after the install: meanwhile
// Graph answers 404 for it and the Connector 403. Those answers mean "not
// yet": the job comes back, nobody is installed twice, nobody ends
// user_not_found, everybody gets the message.
func TestChatNotReadyAfterAnInstallIsWaitedFor(t *testing.T) {
	t.Parallel()
	for _, graphOnly := range []bool{false, true} {
		e := pipelinetest.Start(t, pipelinetest.Options{GraphOnly: graphOnly, Sim: teamsim.Config{
			UsersPerTenant: 20, InstalledFraction: 0, ChatReadyDelay: 1500 * time.Millisecond, ChatReadyJitter: time.Second, Seed: 5,
		}})
		var ids []string
		for _, u := range e.Users() {
			ids = append(ids, u.ID)
		}
		b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "new"}, Audience: broadcast.Audience{UserIDs: ids}})
		b = e.WaitCompleted(b.ID, 2*time.Minute)

		l := e.Sim.Ledger()
		require.Equal(t, broadcast.Counts{Total: int64(len(ids)), Sent: int64(len(ids))}, b.Counts, "graph only: %v", graphOnly)
		require.EqualValues(t, len(ids), l.Installs, "one install per user")
		require.Zero(t, l.InstallConflicts, "never installed again while the chat was being created")
		require.EqualValues(t, len(ids), l.Deliveries)
	}
}

// A Graph install answered 403 (the tenant's app permission policy blocks
// the app for the user) is blocked/bot_disabled at once: not retried, not
// install_failed, and in the unreachable report.
func TestGraphInstallForbiddenIsBlocked(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{GraphOnly: true, Sim: teamsim.Config{
		UsersPerTenant: 40, InstalledFraction: 0, DisabledFraction: 0.2, Seed: 8,
	}})
	ctx := context.Background()
	var ids, disabled []string
	for _, u := range e.Users() {
		ids = append(ids, u.ID)
		if u.Disabled {
			disabled = append(disabled, u.ID)
		}
	}
	require.NotEmpty(t, disabled)
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "policy"}, Audience: broadcast.Audience{UserIDs: ids}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	n := int64(len(disabled))
	require.Equal(t, broadcast.Counts{Total: int64(len(ids)), Sent: int64(len(ids)) - n, Blocked: n}, b.Counts)
	require.EqualValues(t, n, e.Sim.Ledger().Status[http.StatusForbidden], "one refused install per blocked user, not retried")
	for _, id := range disabled {
		r, err := e.Store.Recipient(ctx, b.ID, id)
		require.NoError(t, err)
		require.Equal(t, broadcast.StateBlocked, r.State)
		require.Equal(t, broadcast.ReasonBotDisabled, r.Reason)
	}
	un, _, err := e.Store.UnreachableUsers(ctx, e.Tenant, "", 100)
	require.NoError(t, err)
	require.Len(t, un, len(disabled), "in the unreachable report")
}
