package teamsim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 4, InstalledFraction: 1})
	conn := b.connectorToken(t)

	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/_sim/healthz", "", nil).status)

	var users []User
	r := b.do(t, http.MethodGet, "/_sim/users", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &users))
	require.Equal(t, b.sim.Users(b.tenant), users)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/_sim/users?tenant="+b.tenant, "", nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/_sim/users?tenant=nope", "", nil).status)

	user := users[0]
	conv := b.sim.users(t, user.ID).conv.chatID
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)

	var deliveries []Delivery
	r = b.do(t, http.MethodGet, "/_sim/users/"+b.tenant+"/"+user.ID+"/deliveries", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &deliveries))
	require.Len(t, deliveries, 1)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/_sim/users/"+b.tenant+"/nobody/deliveries", "", nil).status)

	r = b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "user": user.ID, "status": 429, "code": "Throttled", "times": 1, "retryAfterMs": 2000})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = b.send(t, conn, conv, hello)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "2", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "user": "x", "status": 500}).status)
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "usr": "x"}).status)
	b.clock.Advance(2 * time.Second)

	r = b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{"errorRate": 0, "preconditionRate": 1, "latencyMs": 0})
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, http.StatusPreconditionFailed, b.send(t, conn, conv, hello).status)
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{"errorRate": 2}).status)
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{"slowRate": 1.5}).status)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{}).status)

	// No user: the next send to any user of the tenant.
	r = b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "status": 502})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, http.StatusBadGateway, b.send(t, conn, b.sim.users(t, users[1].ID).conv.chatID, hello).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": "nope", "status": 502}).status)

	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, "/_sim/uninstall", "", map[string]any{"tenant": b.tenant, "user": user.ID}).status)
	require.Equal(t, http.StatusForbidden, b.send(t, conn, conv, hello).status)

	var l Ledger
	r = b.do(t, http.MethodGet, "/_sim/ledger", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &l))
	require.Equal(t, b.sim.Ledger(), l)
	require.EqualValues(t, 1, l.Deliveries)
	require.EqualValues(t, 1, l.Throttled)
	require.EqualValues(t, 5, l.Requests[KindConnectorSend])
	require.EqualValues(t, 1, l.Status[http.StatusPreconditionFailed])

	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, "/_sim/reset", "", nil).status)
	l = b.sim.Ledger()
	require.Zero(t, l.Deliveries)
	require.Zero(t, l.Throttled)
	require.Empty(t, l.Status)
}
