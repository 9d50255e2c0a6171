package teamsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGraphUsersPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2500, Seed: 9})
	token := b.graphToken(t)

	var got []map[string]any
	next := "/graph/v1.0/users?$select=id,displayName,userPrincipalName,userType&$top=999"
	pages := 0
	for next != "" {
		r := b.do(t, http.MethodGet, next, token, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		require.Equal(t, b.srv.URL+"/graph/v1.0/$metadata#users(id,displayName,userPrincipalName,userType)", m["@odata.context"])
		for _, v := range m["value"].([]any) {
			got = append(got, v.(map[string]any))
		}
		pages++
		next, _ = m["@odata.nextLink"].(string)
		if next != "" {
			require.True(t, strings.HasPrefix(next, b.srv.URL+"/graph/v1.0/users?"), "absolute nextLink: %s", next)
			require.Contains(t, next, "$skiptoken=")
		}
	}
	require.Equal(t, 3, pages)

	users := b.sim.Users(b.tenant)
	require.Len(t, got, len(users))
	guests := 0
	for i, u := range users {
		require.Equal(t, map[string]any{"id": u.ID, "displayName": u.DisplayName, "userPrincipalName": u.UPN, "userType": u.UserType}, got[i])
		if u.UserType == "Guest" {
			guests++
		}
	}
	require.Equal(t, 25, guests)
	require.EqualValues(t, 3, b.sim.Ledger().Requests[KindGraphUsers])
}

func TestGraphUsersQueryOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 150})
	token := b.graphToken(t)

	t.Run("default page size and property set", func(t *testing.T) {
		t.Parallel()
		m := b.do(t, http.MethodGet, "/graph/v1.0/users", token, nil).json(t)
		value := m["value"].([]any)
		require.Len(t, value, defaultPageSize)
		first := value[0].(map[string]any)
		require.Contains(t, first, "id")
		require.Contains(t, first, "userPrincipalName")
		require.NotContains(t, first, "userType", "Graph leaves userType out unless selected")
		require.NotEmpty(t, m["@odata.nextLink"])
		m = b.do(t, http.MethodGet, m["@odata.nextLink"].(string), token, nil).json(t)
		require.Len(t, m["value"], 50)
		require.NotContains(t, m, "@odata.nextLink")
	})
	t.Run("top without dollar", func(t *testing.T) {
		t.Parallel()
		m := b.do(t, http.MethodGet, "/graph/v1.0/users?top=7&select=id", token, nil).json(t)
		require.Len(t, m["value"], 7)
	})
	for _, q := range []string{"$top=1000", "$top=0", "$top=x", "$select=id,shoeSize", "$filter=" + url.QueryEscape("userType eq 'Member'"), "$skiptoken=garbage!"} {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, http.MethodGet, "/graph/v1.0/users?"+q, token, nil)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			r.errorCode(t)
		})
	}
}

func TestGraphCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3})
	token := b.graphToken(t)
	filter := func(f string) string { return "/graph/v1.0/appCatalogs/teamsApps?$filter=" + url.QueryEscape(f) }

	m := b.do(t, http.MethodGet, filter("externalId eq '"+testTeamsAppID+"'"), token, nil).json(t)
	value := m["value"].([]any)
	require.Len(t, value, 1)
	app := value[0].(map[string]any)
	require.Equal(t, testTeamsAppID, app["externalId"])
	require.Equal(t, "organization", app["distributionMethod"])
	require.NotEmpty(t, app["displayName"])
	require.NotEqual(t, testTeamsAppID, app["id"], "an org app's catalog id is not its manifest id")
	require.Equal(t, b.sim.tenants[b.tenant].catalogID, app["id"])

	m = b.do(t, http.MethodGet, filter("externalId eq '00000000-0000-0000-0000-00000000dead'"), token, nil).json(t)
	require.Empty(t, m["value"])

	r := b.do(t, http.MethodGet, filter("startswith(displayName,'B')"), token, nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.EqualValues(t, 3, b.sim.Ledger().Requests[KindGraphCatalog])
}

func TestGraphInstallFindAndChat(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 20, InstalledFraction: 0.5, Seed: 1})
	token := b.graphToken(t)
	catalogID := b.sim.tenants[b.tenant].catalogID
	user := b.userWhere(t, notInstalled)
	base := "/graph/v1.0/users/" + user.ID + "/teamwork/installedApps"
	bind := map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + catalogID}
	lookup := base + "?$expand=teamsApp&$filter=" + url.QueryEscape("teamsApp/id eq '"+catalogID+"'")

	m := b.do(t, http.MethodGet, lookup, token, nil).json(t)
	require.Empty(t, m["value"], "not installed yet")

	r := b.do(t, http.MethodPost, base, token, bind)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Empty(t, r.body)
	r = b.do(t, http.MethodPost, base, token, bind)
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, "Conflict", r.errorCode(t))

	m = b.do(t, http.MethodGet, lookup, token, nil).json(t)
	value := m["value"].([]any)
	require.Len(t, value, 1)
	inst := value[0].(map[string]any)
	require.Equal(t, catalogID, inst["teamsApp"].(map[string]any)["id"])
	instID := inst["id"].(string)

	r = b.do(t, http.MethodGet, base+"/"+url.PathEscape(instID)+"/chat", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	chatID := r.json(t)["id"].(string)
	require.Equal(t, "19:"+user.ID+"_"+testBotAppID+"@unq.gbl.spaces", chatID)

	// The chat id is a Connector conversation id.
	require.Equal(t, http.StatusCreated, b.send(t, b.connectorToken(t), chatID, hello).status)

	// By UPN too.
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+url.PathEscape(user.UPN)+"/teamwork/installedApps", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Len(t, r.json(t)["value"], 1)

	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.Installs)
	require.EqualValues(t, 1, l.InstallConflicts)
	require.EqualValues(t, 2, l.Requests[KindGraphInstall])
	require.EqualValues(t, 3, l.Requests[KindGraphInstalledGet])
	require.EqualValues(t, 1, l.Requests[KindGraphChat])
	require.True(t, b.userWhere(t, func(u User) bool { return u.ID == user.ID }).Installed)
}

func TestGraphInstallErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5})
	token := b.graphToken(t)
	catalogID := b.sim.tenants[b.tenant].catalogID
	user := b.sim.Users(b.tenant)[0]
	bind := func(id string) map[string]string {
		return map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + id}
	}
	path := func(u string) string { return "/graph/v1.0/users/" + u + "/teamwork/installedApps" }

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
	}{
		{"unknown user", path("00000000-0000-4000-8000-000000000000"), bind(catalogID), 404},
		{"unknown app", path(user.ID), bind("00000000-0000-4000-8000-000000000000"), 404},
		{"manifest id is not the catalog id", path(user.ID), bind(testTeamsAppID), 404},
		{"not JSON", path(user.ID), "{", 400},
		{"no bind", path(user.ID), map[string]string{"teamsApp": catalogID}, 400},
		{"bind elsewhere", path(user.ID), map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/users/x"}, 400},
	} {
		r := b.do(t, http.MethodPost, tc.path, token, tc.body)
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		r.errorCode(t)
	}
	r := b.do(t, http.MethodGet, path(user.ID)+"/bm90LWFuLWluc3RhbGxhdGlvbg==/chat", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Zero(t, b.sim.Ledger().Installs)
}

func TestGraphTokenTenantDecidesTheData(t *testing.T) {
	t.Parallel()
	other := "22222222-2222-3333-4444-555555555555"
	b := setup(t, Config{Tenants: []string{testTenant, other}, UsersPerTenant: 5})
	otherUser := b.sim.Users(other)[0]
	r := b.do(t, http.MethodGet, "/graph/v1.0/users/"+otherUser.ID+"/teamwork/installedApps", b.graphToken(t), nil)
	require.Equal(t, http.StatusNotFound, r.status, "a tenant's token does not see another tenant's users")

	m := b.do(t, http.MethodGet, "/graph/v1.0/users?$select=id", b.graphToken(t), nil).json(t)
	for _, v := range m["value"].([]any) {
		require.NotEqual(t, otherUser.ID, v.(map[string]any)["id"])
	}
}

func TestGraphUnknownOperation(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 1})
	r := b.do(t, http.MethodGet, "/graph/v1.0/groups/abc/transitiveMembers", b.graphToken(t), nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "BadRequest", r.errorCode(t))
}
