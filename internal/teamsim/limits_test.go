package teamsim

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sendText sends a distinct message so that duplicates do not muddle counts.
func sendText(t *testing.T, b *testBundle, token, conv string, n int) response {
	t.Helper()
	return b.send(t, token, conv, `{"type":"message","text":"message `+strconv.Itoa(n)+`"}`)
}

func TestConnectorTenantLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 10, InstalledFraction: 1, ConnectorRPS: 5})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convs := make([]string, len(users))
	for i, u := range users[:5] {
		convs[i] = b.conversation(t, conn, u.ID) // five calls: the window is full
	}
	b.clock.Advance(time.Second)

	for i := range 5 {
		require.Equal(t, http.StatusCreated, sendText(t, b, conn, convs[i], i).status)
	}
	r := sendText(t, b, conn, convs[0], 5)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "Throttled", r.errorCode(t))
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)

	// Within the tolerance of the 429's departure: refused, but it was in
	// flight before the client could know.
	b.clock.Advance(DefaultRetryAfterTolerance)
	require.Equal(t, http.StatusTooManyRequests, sendText(t, b, conn, convs[2], 5).status)
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)

	// Early: a violation, answered 429 again with the time left.
	b.clock.Advance(100 * ms)
	r = sendText(t, b, conn, convs[1], 6)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	r = b.createConversation(t, conn, users[7].ID)
	require.Equal(t, http.StatusTooManyRequests, r.status, "every Connector call of the tenant is held back")

	// On time: accepted, and the refused requests did not use up the window.
	b.clock.Advance(900 * ms)
	for i := range 5 {
		require.Equal(t, http.StatusCreated, sendText(t, b, conn, convs[i], 10+i).status)
	}

	l := b.sim.Ledger()
	require.EqualValues(t, 4, l.Throttled)
	require.EqualValues(t, 2, l.RetryAfterViolations)
	require.EqualValues(t, 10, l.Deliveries)
	require.EqualValues(t, 4, l.Status[http.StatusTooManyRequests])
}

func TestConnectorLimitIsPerTenant(t *testing.T) {
	t.Parallel()
	other := "22222222-2222-3333-4444-555555555555"
	b := setup(t, Config{Tenants: []string{testTenant, other}, UsersPerTenant: 3, InstalledFraction: 1, ConnectorRPS: 1})
	conn := b.connectorToken(t)
	a := b.sim.users(t, b.sim.Users(testTenant)[0].ID).conv.chatID
	u, err := b.sim.user(other, b.sim.Users(other)[0].ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, b.send(t, conn, a, hello).status)
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, a, hello).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, u.conv.chatID, hello).status, "the other tenant has its own window")
}

// TestConnectorLimitRealTime waits out a real Retry-After.
func TestConnectorLimitRealTime(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3, InstalledFraction: 1, ConnectorRPS: 2}, withRealClock())
	conn := b.connectorToken(t)
	conv := b.sim.users(t, b.sim.Users(b.tenant)[0].ID).conv.chatID
	var r response
	for i := 0; ; i++ {
		if r = sendText(t, b, conn, conv, i); r.status == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusCreated, r.status)
		require.Less(t, i, 2, "a third request within a second is refused")
	}
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.Equal(t, 1, wait)
	time.Sleep(time.Duration(wait) * time.Second)
	require.Equal(t, http.StatusCreated, sendText(t, b, conn, conv, 99).status)
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)
	require.EqualValues(t, 1, b.sim.Ledger().Throttled)
}

func TestConversationLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3, InstalledFraction: 1, ConversationLimits: true})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	conv := b.conversation(t, conn, users[0].ID) // the create counts too
	for i := 1; i < 7; i++ {
		require.Equal(t, http.StatusCreated, sendText(t, b, conn, conv, i).status, "send %d", i)
	}
	r := sendText(t, b, conn, conv, 7)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusCreated, b.send(t, conn, b.sim.users(t, users[1].ID).conv.chatID, hello).status,
		"another conversation is not affected")

	b.clock.Advance(time.Second)
	require.Equal(t, http.StatusCreated, sendText(t, b, conn, conv, 8).status, "7 per 1 s has room again")
	r = sendText(t, b, conn, conv, 9)
	require.Equal(t, http.StatusTooManyRequests, r.status, "8 per 2 s")
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)
	b.clock.Advance(500 * ms)
	require.Equal(t, http.StatusTooManyRequests, sendText(t, b, conn, conv, 10).status)
	require.EqualValues(t, 1, b.sim.Ledger().RetryAfterViolations)
}

func TestGraphInstalledAppsLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 10, GraphRPS: 2, GraphFractionalRetryAfter: true})
	graph := b.graphToken(t)
	users := b.sim.Users(b.tenant)
	get := func(i int) response {
		return b.do(t, http.MethodGet, "/graph/v1.0/users/"+users[i].ID+"/teamwork/installedApps", graph, nil)
	}
	install := func(i int) response {
		return b.do(t, http.MethodPost, "/graph/v1.0/users/"+users[i].ID+"/teamwork/installedApps", graph,
			map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + b.sim.tenants[b.tenant].catalogID})
	}
	require.Equal(t, http.StatusOK, get(0).status)
	b.clock.Advance(250 * ms)
	require.Equal(t, http.StatusOK, get(1).status)
	r := get(2)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "TooManyRequests", r.errorCode(t))
	require.Equal(t, "0.75", r.header.Get("Retry-After"), "fractional, until the first GET is 1 s old")

	require.Equal(t, http.StatusCreated, install(0).status, "POSTs have their own window")
	require.Equal(t, http.StatusCreated, install(1).status)
	require.Equal(t, http.StatusTooManyRequests, install(2).status)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/users?$top=5", graph, nil).status, "/users is not limited")
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/appCatalogs/teamsApps?$filter="+url.QueryEscape("externalId eq 'x'"), graph, nil).status)

	b.clock.Advance(500 * ms)
	r = get(3)
	require.Equal(t, http.StatusTooManyRequests, r.status, "early")
	require.Equal(t, "0.25", r.header.Get("Retry-After"))
	require.EqualValues(t, 1, b.sim.Ledger().RetryAfterViolations)

	b.clock.Advance(250 * ms)
	require.Equal(t, http.StatusOK, get(3).status, "on time")
	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.RetryAfterViolations)
	require.EqualValues(t, 3, l.Throttled)
}

func TestGraphWholeSecondRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, GraphRPS: 1})
	graph := b.graphToken(t)
	path := "/graph/v1.0/users/" + b.sim.Users(b.tenant)[0].ID + "/teamwork/installedApps"
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, path, graph, nil).status)
	b.clock.Advance(300 * ms)
	r := b.do(t, http.MethodGet, path, graph, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	b.clock.Advance(time.Second)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, path, graph, nil).status)
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)
}
