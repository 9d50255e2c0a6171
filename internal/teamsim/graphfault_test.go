package teamsim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// An injected Graph fault answers the tenant's requests under its path
// prefix, with Graph's error shape, for its count or until cleared; other
// paths and tenants are untouched, and a $batch's requests are matched on
// their own paths.
func TestInjectGraph(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 10, Seed: 3})
	token := b.graphToken(t)
	user := b.sim.Users(b.tenant)[0].ID

	b.sim.InjectGraph(b.tenant, GraphFault{PathPrefix: "/users/delta", Status: http.StatusForbidden})
	for range 3 {
		r := b.do(t, http.MethodGet, "/graph/v1.0/users/delta", token, nil)
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, "Authorization_RequestDenied", r.errorCode(t))
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/users", token, nil).status, "another path")
	b.sim.ClearGraphFaults(b.tenant)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/users/delta", token, nil).status)

	b.sim.InjectGraph(b.tenant, GraphFault{PathPrefix: "/users/", Status: http.StatusServiceUnavailable, Times: 2})
	batch := map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + user},
		{"id": "2", "method": "GET", "url": "/users/" + user},
		{"id": "3", "method": "GET", "url": "/users/" + user},
	}}
	r := b.do(t, http.MethodPost, "/graph/v1.0/$batch", token, batch)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var statuses []float64
	for _, v := range r.json(t)["responses"].([]any) {
		statuses = append(statuses, v.(map[string]any)["status"].(float64))
	}
	require.ElementsMatch(t, []float64{503, 503, 200}, statuses, "two answered by the fault, then it is used up")

	b.sim.InjectGraph("unknown-tenant", GraphFault{Status: http.StatusForbidden}) // logged, ignored
	b.sim.InjectGraph(b.tenant, GraphFault{Status: http.StatusOK})                // not an error: ignored
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/users/"+user, token, nil).status)
}
