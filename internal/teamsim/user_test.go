package teamsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// GET /users/{id | upn} answers one user, found by id or by name in any
// case, with $select; an unknown one is 404, and a token is required.
func TestGetUser(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5})
	token := b.graphToken(t)
	u := b.sim.Users(b.tenant)[2]
	for _, key := range []string{u.ID, strings.ToUpper(u.UPN)} {
		r := b.do(t, http.MethodGet, "/graph/v1.0/users/"+url.PathEscape(key)+"?$select=id,userPrincipalName,userType", token, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		m := r.json(t)
		require.Equal(t, u.ID, m["id"])
		require.Equal(t, u.UPN, m["userPrincipalName"])
		require.Equal(t, u.UserType, m["userType"])
		require.NotContains(t, m, "displayName", "only what $select asks for")
	}
	r := b.do(t, http.MethodGet, "/graph/v1.0/users/nobody@contoso.example", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "Request_ResourceNotFound", r.errorCode(t))
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+u.ID, "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)
}
