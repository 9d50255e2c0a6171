package teamsim

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChatNotReadyRightAfterInstall: for ChatReadyDelay after a Graph
// install, the installation's /chat answers 404 and the Connector's create
// conversation 403 ForbiddenOperationException, as Teams creates the chat
// asynchronously; after it both work.
func TestChatNotReadyRightAfterInstall(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 6, ChatReadyDelay: 2 * time.Second})
	graph, conn := b.graphToken(t), b.connectorToken(t)
	user := b.userWhere(t, notInstalled)
	b.install(t, user.ID)
	inst := b.sim.users(t, user.ID).conv
	chatPath := "/graph/v1.0/users/" + user.ID + "/teamwork/installedApps/" + url.PathEscape(inst.installationID) + "/chat"

	r := b.do(t, http.MethodGet, "/graph/v1.0/users/"+user.ID+"/teamwork/installedApps", graph, nil)
	require.Len(t, r.json(t)["value"], 1, "the installation is listed at once")
	r = b.do(t, http.MethodGet, chatPath, graph, nil)
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	require.Equal(t, "NotFound", r.errorCode(t))
	require.NotEmpty(t, r.json(t)["error"].(map[string]any)["innerError"], "Graph's error shape")
	r = b.createConversation(t, conn, user.ID)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "ForbiddenOperationException", r.errorCode(t))
	r = b.send(t, conn, inst.chatID, hello)
	require.Equal(t, http.StatusForbidden, r.status, "a send to the chat id Graph will give")
	require.Equal(t, "ForbiddenOperationException", r.errorCode(t))

	b.clock.Advance(2*time.Second - ms)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, chatPath, graph, nil).status)
	b.clock.Advance(ms)
	r = b.do(t, http.MethodGet, chatPath, graph, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, inst.chatID, r.json(t)["id"])
	require.Equal(t, http.StatusCreated, b.createConversation(t, conn, user.ID).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, inst.chatID, hello).status)

	// Users who had the app before are not affected.
	had := b.userWhere(t, deliverable)
	require.NotEmpty(t, b.conversation(t, conn, had.ID))
}

// TestInstallPostedWhenTheChatIsReady: the bot hears of an install only
// once its chat exists.
func TestInstallPostedWhenTheChatIsReady(t *testing.T) {
	t.Parallel()
	ep := newBotEndpoint(t)
	b := setup(t, Config{UsersPerTenant: 4, Seed: 3, BotEndpoint: ep.srv.URL + "/api/messages", ChatReadyDelay: 300 * ms},
		withRealClock())
	graph := b.graphToken(t)
	user := b.userWhere(t, notInstalled)
	b.install(t, user.ID)
	inst := b.sim.users(t, user.ID).conv
	chatPath := "/graph/v1.0/users/" + user.ID + "/teamwork/installedApps/" + url.PathEscape(inst.installationID) + "/chat"

	var status int
	require.Eventually(t, func() bool {
		_, bodies := ep.received()
		if len(bodies) == 0 {
			return false
		}
		// Posted: the chat must exist by now.
		status = b.do(t, http.MethodGet, chatPath, graph, nil).status
		return true
	}, 10*time.Second, ms)
	require.Equal(t, http.StatusOK, status, "the conversationUpdate came before the chat existed")
	_, bodies := ep.received()
	require.Equal(t, "conversationUpdate", bodies[0]["type"])
	require.Equal(t, inst.chatID, bodies[0]["conversation"].(map[string]any)["id"])
}

// TestInstallForbiddenByPolicy: a user whose admin's app permission
// policy blocks the app gets 403 from a Graph install, counted.
func TestInstallForbiddenByPolicy(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 20, DisabledFraction: 0.2, Seed: 7})
	graph := b.graphToken(t)
	disabled := b.userWhere(t, func(u User) bool { return u.Disabled })
	bind := map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + b.sim.tenants[b.tenant].catalogID}
	r := b.do(t, http.MethodPost, "/graph/v1.0/users/"+disabled.ID+"/teamwork/installedApps", graph, bind)
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	require.Equal(t, "Forbidden", r.errorCode(t))
	inner := r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)
	require.NotEmpty(t, inner["request-id"])
	require.NotEmpty(t, inner["date"])
	require.NotEmpty(t, r.header.Get("request-id"))

	require.False(t, b.userWhere(t, func(u User) bool { return u.ID == disabled.ID }).Installed, "nothing installed")
	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.InstallsForbidden)
	require.Zero(t, l.Installs)
	require.EqualValues(t, 1, l.Status[http.StatusForbidden])

	b.install(t, b.userWhere(t, notInstalled).ID)
	require.EqualValues(t, 1, b.sim.Ledger().Installs, "others install")
}
