package install_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// firstBroadcast sends a first broadcast to every member of a population
// without the app and returns the member ids.
func firstBroadcast(t *testing.T, e *pipelinetest.Env) []string {
	t.Helper()
	var ids []string
	for _, u := range e.Users() {
		ids = append(ids, u.ID)
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "first"}, Audience: broadcast.Audience{UserIDs: ids}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	require.EqualValues(t, len(ids), b.Counts.Sent)
	return ids
}

// With the bot endpoint, Teams (the simulator) tells the bot of each
// install; the endpoint caches the conversation, and the installer takes
// it from there instead of looking it up again after the install. An
// uninstall heard by the endpoint forgets the conversation, and the next
// broadcast installs the app again.
func TestBotEndpointSavesTheGraphLookups(t *testing.T) {
	t.Parallel()
	const users = 40
	sim := teamsim.Config{UsersPerTenant: users, InstalledFraction: 0, Seed: 17}
	plain := pipelinetest.Start(t, pipelinetest.Options{Sim: sim})
	withBot := pipelinetest.Start(t, pipelinetest.Options{Sim: sim, BotEndpoint: true})
	ctx := context.Background()

	firstBroadcast(t, plain)
	ids := firstBroadcast(t, withBot)

	lookups := func(l teamsim.Ledger) int64 {
		return l.Requests[teamsim.KindGraphInstalledGet] + l.Requests[teamsim.KindGraphChat] + l.Requests[teamsim.KindConnectorCreate]
	}
	lp, lb := plain.Sim.Ledger(), withBot.Sim.Ledger()
	t.Logf("first broadcast to %d users without the app: %d conversation lookups (Graph GETs and Connector creates) without the bot endpoint, %d with it",
		users, lookups(lp), lookups(lb))
	require.EqualValues(t, users, lp.Installs)
	require.GreaterOrEqual(t, lookups(lp), int64(2*users), "without the bot endpoint: a lookup that finds no app, and one after the install, per user")
	require.Zero(t, lp.BotActivities)
	require.EqualValues(t, users, lb.Installs)
	require.EqualValues(t, users, lookups(lb), "with the bot endpoint: only the lookup that finds no app")
	require.Zero(t, lb.Requests[teamsim.KindGraphChat], "no chat looked up")
	require.EqualValues(t, users, lb.BotActivities, "one conversationUpdate per install")
	require.Zero(t, lb.BotActivitiesFailed)
	require.Equal(t, map[int]int64{http.StatusOK: users}, lb.BotAnswers)

	convs, err := withBot.Store.Conversations(ctx, withBot.Tenant, ids)
	require.NoError(t, err)
	require.Len(t, convs, users)
	for _, c := range convs {
		require.True(t, strings.HasPrefix(c, "19:") && strings.HasSuffix(c, "@unq.gbl.spaces"), c)
	}

	// An uninstall through the simulator's control endpoint reaches the bot.
	gone := ids[3]
	body, _ := json.Marshal(map[string]string{"tenant": withBot.Tenant, "user": gone})
	resp, err := http.Post(withBot.SimURL+"/_sim/uninstall", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, uninstalled, err := withBot.Store.Uninstalled(ctx, withBot.Tenant, gone)
		return err == nil && uninstalled
	}, "the uninstall is recorded")
	convs, err = withBot.Store.Conversations(ctx, withBot.Tenant, []string{gone})
	require.NoError(t, err)
	require.Empty(t, convs, "the uninstalled user's conversation is forgotten")

	// The next broadcast installs the app for that user again: one install,
	// and one lookup (finding no app).
	before := withBot.Sim.Ledger()
	b := withBot.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "second"}, Audience: broadcast.Audience{UserIDs: ids}})
	b = withBot.WaitCompleted(b.ID, 2*time.Minute)
	require.EqualValues(t, users, b.Counts.Sent)
	after := withBot.Sim.Ledger()
	require.EqualValues(t, 1, after.Installs-before.Installs)
	require.Equal(t, lookups(before)+1, lookups(after))
	_, uninstalled, err := withBot.Store.Uninstalled(ctx, withBot.Tenant, gone)
	require.NoError(t, err)
	require.False(t, uninstalled, "the reinstall clears the uninstall")
	require.Len(t, withBot.Sim.UserDeliveries(withBot.Tenant, gone), 2)
}
