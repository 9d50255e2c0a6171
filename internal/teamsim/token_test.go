package teamsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5, TokenTTL: 90 * time.Second})

	t.Run("issues a connector token", func(t *testing.T) {
		t.Parallel()
		r := b.tokenRequest(t, ConnectorTenant, credentials(ScopeConnector))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		require.Equal(t, "Bearer", m["token_type"])
		require.EqualValues(t, 90, m["expires_in"])
		require.EqualValues(t, 90, m["ext_expires_in"])
		require.NotEmpty(t, m["access_token"])
	})

	t.Run("issues a graph token for a configured tenant, by id or domain", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, http.StatusOK, b.tokenRequest(t, testTenant, credentials(ScopeGraph)).status)
		require.Equal(t, http.StatusOK, b.tokenRequest(t, strings.ToUpper(testTenant), credentials(ScopeGraph)).status)
		require.Equal(t, http.StatusOK, b.tokenRequest(t, b.sim.tenants[testTenant].domain, credentials(ScopeGraph)).status)
	})

	for _, tc := range []struct {
		name   string
		tenant string
		edit   func(url.Values)
		status int
		code   string
	}{
		{"wrong secret", ConnectorTenant, func(v url.Values) { v.Set("client_secret", "nope") }, 401, "invalid_client"},
		{"no secret", ConnectorTenant, func(v url.Values) { v.Del("client_secret") }, 401, "invalid_client"},
		{"unknown client", ConnectorTenant, func(v url.Values) { v.Set("client_id", "someone-else") }, 400, "unauthorized_client"},
		{"no client id", ConnectorTenant, func(v url.Values) { v.Del("client_id") }, 400, "invalid_request"},
		{"no grant type", ConnectorTenant, func(v url.Values) { v.Del("grant_type") }, 400, "invalid_request"},
		{"password grant", ConnectorTenant, func(v url.Values) { v.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
		{"no scope", ConnectorTenant, func(v url.Values) { v.Del("scope") }, 400, "invalid_request"},
		{"bad scope", ConnectorTenant, func(v url.Values) { v.Set("scope", "https://api.botframework.com") }, 400, "invalid_scope"},
		{"graph from botframework.com", ConnectorTenant, func(v url.Values) { v.Set("scope", ScopeGraph) }, 400, "invalid_resource"},
		{"unknown tenant", "99999999-0000-0000-0000-000000000000", func(url.Values) {}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := credentials(ScopeConnector)
			tc.edit(form)
			r := b.tokenRequest(t, tc.tenant, form)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			m := r.json(t)
			require.Equal(t, tc.code, m["error"])
			require.Contains(t, m["error_description"], "AADSTS")
			require.NotEmpty(t, m["error_codes"])
			require.NotContains(t, string(r.body), testBotSecret)
		})
	}
	require.EqualValues(t, 0, b.sim.Ledger().Status[500])
}

func TestTokensAreCheckedOnEveryCall(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5, InstalledFraction: 1, TokenTTL: time.Minute})
	conn, graph := b.connectorToken(t), b.graphToken(t)
	user := b.sim.Users(b.tenant)[0]
	conv := b.conversation(t, conn, user.ID)

	for _, tc := range []struct {
		name, token string
	}{{"missing", ""}, {"unknown", "sim.not-issued"}, {"wrong scope", graph}} {
		r := b.send(t, tc.token, conv, hello)
		require.Equal(t, http.StatusUnauthorized, r.status, tc.name)
		require.Equal(t, "Unauthorized", r.errorCode(t), tc.name)
	}
	for _, tc := range []struct {
		name, token string
	}{{"missing", ""}, {"unknown", "sim.not-issued"}, {"wrong scope", conn}} {
		r := b.do(t, http.MethodGet, "/graph/v1.0/users", tc.token, nil)
		require.Equal(t, http.StatusUnauthorized, r.status, tc.name)
		require.Equal(t, "InvalidAuthenticationToken", r.errorCode(t), tc.name)
	}

	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/graph/v1.0/users", graph, nil).status)

	b.clock.Advance(time.Minute - time.Millisecond)
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, `{"type":"message","text":"still valid"}`).status)

	b.clock.Advance(time.Millisecond)
	r := b.send(t, conn, conv, hello)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Contains(t, string(r.body), "expired")
	r = b.do(t, http.MethodGet, "/graph/v1.0/users", graph, nil)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Contains(t, string(r.body), "expired")

	// A fresh token works again.
	require.Equal(t, http.StatusCreated, b.send(t, b.connectorToken(t), conv, `{"type":"message","text":"new token"}`).status)

	l := b.sim.Ledger()
	require.EqualValues(t, 3, l.Requests[KindToken]) // two at the start and the fresh one
	require.EqualValues(t, 3, l.Deliveries)
}
