package teamsim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deltaRound follows a delta round from link to its deltaLink and returns
// the users listed, the removed ids and the deltaLink.
func deltaRound(t *testing.T, b *testBundle, token, link string) (users []map[string]any, removed []string, deltaLink string) {
	t.Helper()
	for link != "" {
		r := b.do(t, http.MethodGet, link, token, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		for _, v := range m["value"].([]any) {
			o := v.(map[string]any)
			if _, gone := o["@removed"]; gone {
				require.Equal(t, map[string]any{"reason": "deleted"}, o["@removed"])
				removed = append(removed, o["id"].(string))
				continue
			}
			users = append(users, o)
		}
		next, _ := m["@odata.nextLink"].(string)
		delta, _ := m["@odata.deltaLink"].(string)
		require.True(t, (next == "") != (delta == ""), "a page has a nextLink or a deltaLink: %s", r.body)
		link, deltaLink = next, delta
	}
	return users, removed, deltaLink
}

func TestUsersDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 450, Seed: 3})
	token := b.graphToken(t)

	users, removed, deltaLink := deltaRound(t, b, token, "/graph/v1.0/users/delta?$select=id,displayName,userPrincipalName,userType,accountEnabled,department")
	require.Len(t, users, 450)
	require.Empty(t, removed)
	require.EqualValues(t, 3, b.sim.Ledger().Requests[KindGraphUsersDelta], "pages of 200")
	require.Len(t, users[0], 6, "$select is kept in the links: %v", users[0])
	require.True(t, strings.HasPrefix(deltaLink, b.srv.URL+"/graph/v1.0/users/delta?$deltatoken="))

	// Nothing changed: one page, nothing in it.
	again, removed, next := deltaRound(t, b, token, deltaLink)
	require.Empty(t, again)
	require.Empty(t, removed)

	all := b.sim.Users(b.tenant)
	added, err := b.sim.AddUser(b.tenant, UserSpec{GivenName: "Nadia", Surname: "Okoro", Department: "Legal"})
	require.NoError(t, err)
	require.True(t, added.AccountEnabled)
	name := "Renamed Person"
	_, err = b.sim.ChangeUser(b.tenant, all[5].ID, UserChange{DisplayName: &name})
	require.NoError(t, err)
	require.NoError(t, b.sim.RemoveUser(b.tenant, all[7].ID))
	// A user added then removed in the same round is reported removed only.
	gone, err := b.sim.AddUser(b.tenant, UserSpec{})
	require.NoError(t, err)
	require.NoError(t, b.sim.RemoveUser(b.tenant, gone.ID))

	changed, removed, next2 := deltaRound(t, b, token, next)
	ids := []string{}
	for _, u := range changed {
		ids = append(ids, u["id"].(string))
	}
	require.ElementsMatch(t, []string{added.ID, all[5].ID}, ids)
	require.ElementsMatch(t, []string{all[7].ID, gone.ID}, removed)
	for _, u := range changed {
		if u["id"] == all[5].ID {
			require.Equal(t, name, u["displayName"])
		}
	}
	require.NotEqual(t, next, next2)

	// An expired token: 400 syncStateNotFound, then a full round works.
	require.NoError(t, b.sim.ExpireDeltaTokens(b.tenant))
	r := b.do(t, http.MethodGet, next2, token, nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "syncStateNotFound", r.errorCode(t))
	users, _, last := deltaRound(t, b, token, "/graph/v1.0/users/delta?$select=id")
	require.Len(t, users, 450)
	again, _, _ = deltaRound(t, b, token, last)
	require.Empty(t, again, "the new round's link works")

	// A deltaLink older than DeltaTokenTTL is expired too.
	b.clock.Advance(8 * 24 * time.Hour)
	r = b.do(t, http.MethodGet, last, b.graphToken(t), nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "syncStateNotFound", r.errorCode(t))
}

func TestGroupsTransitiveMembers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 1500, Seed: 5})
	token := b.graphToken(t)
	groups := b.sim.Groups(b.tenant)
	require.Len(t, groups, len(DefaultGroups()))
	byName := map[string]Group{}
	for _, g := range groups {
		byName[g.DisplayName] = g
	}
	europe, marketing := byName["Europe"], byName["Marketing"]
	require.Equal(t, []string{marketing.ID}, europe.Groups)

	want, err := b.sim.GroupMembers(b.tenant, europe.ID)
	require.NoError(t, err)
	union := append(slices.Clone(europe.Members), marketing.Members...)
	slices.Sort(union)
	require.Equal(t, slices.Compact(union), want, "direct and nested members, once each")

	var got []string
	guests := 0
	link := "/graph/v1.0/groups/" + europe.ID + "/transitiveMembers/microsoft.graph.user?$select=id,userType&$top=100"
	for link != "" {
		r := b.do(t, http.MethodGet, link, token, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		for _, v := range m["value"].([]any) {
			u := v.(map[string]any)
			got = append(got, u["id"].(string))
			if u["userType"] == "Guest" {
				guests++
			}
		}
		link, _ = m["@odata.nextLink"].(string)
	}
	require.Equal(t, want, got)
	require.Positive(t, guests, "Europe has guest members")

	r := b.do(t, http.MethodGet, "/graph/v1.0/groups/"+testTenant+"/transitiveMembers/microsoft.graph.user", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "Request_ResourceNotFound", r.errorCode(t))

	// A removed user leaves its groups.
	require.NoError(t, b.sim.RemoveUser(b.tenant, want[0]))
	after, err := b.sim.GroupMembers(b.tenant, europe.ID)
	require.NoError(t, err)
	require.Equal(t, want[1:], after)
}

func TestUserLookupAndBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 100, Seed: 2, AccountDisabledFraction: 0.03})
	token := b.graphToken(t)
	users := b.sim.Users(b.tenant)
	disabled := 0
	for _, u := range users {
		disabled += b2i(!u.AccountEnabled)
		require.NotEmpty(t, u.Department)
		require.NotEmpty(t, u.JobTitle)
	}
	require.Equal(t, 3, disabled)

	guest := b.userWhere(t, func(u User) bool { return u.UserType == "Guest" })
	r := b.do(t, http.MethodGet, "/graph/v1.0/users/"+url.PathEscape(guest.UPN)+"?$select=id,givenName,surname,mail,jobTitle,department,accountEnabled,userType", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, guest.ID, m["id"])
	require.Equal(t, guest.Mail, m["mail"])
	require.Equal(t, guest.Department, m["department"])
	require.Equal(t, "Guest", m["userType"])

	r = b.do(t, http.MethodGet, "/graph/v1.0/users/nobody@example.com", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "Request_ResourceNotFound", r.errorCode(t))

	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + url.PathEscape(users[0].UPN) + "?$select=id,userPrincipalName"},
		{"id": "2", "method": "GET", "url": "/users/nobody@example.com?$select=id"},
		{"id": "3", "method": "GET", "url": "/users/" + users[1].ID},
	}
	r = b.do(t, http.MethodPost, "/graph/v1.0/$batch", token, map[string]any{"requests": reqs})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	resps := r.json(t)["responses"].([]any)
	require.Len(t, resps, 3)
	status := map[string]float64{}
	for _, x := range resps {
		o := x.(map[string]any)
		status[o["id"].(string)] = o["status"].(float64)
		if o["id"] == "1" {
			require.Equal(t, users[0].ID, o["body"].(map[string]any)["id"])
		}
	}
	require.Equal(t, map[string]float64{"1": 200, "2": 404, "3": 200}, status)
	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.Requests[KindGraphBatch])
	require.EqualValues(t, 5, l.Requests[KindGraphUser], "inner requests count as their kind")

	many := make([]map[string]any, 21)
	for i := range many {
		many[i] = map[string]any{"id": string(rune('a' + i)), "method": "GET", "url": "/users/" + users[0].ID}
	}
	r = b.do(t, http.MethodPost, "/graph/v1.0/$batch", token, map[string]any{"requests": many})
	require.Equal(t, http.StatusBadRequest, r.status)
}

func TestDirectoryControl(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 10, Seed: 2})
	r := b.do(t, http.MethodPost, "/_sim/directory/users", "", map[string]any{"tenant": b.tenant, "givenName": "Ada", "guest": true})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["id"].(string)
	require.Len(t, b.sim.Users(b.tenant), 11)
	r = b.do(t, http.MethodPatch, "/_sim/directory/users/"+b.tenant+"/"+id, "", map[string]any{"accountEnabled": false})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, false, r.json(t)["accountEnabled"])
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodDelete, "/_sim/directory/users/"+b.tenant+"/"+id, "", nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodDelete, "/_sim/directory/users/"+b.tenant+"/"+id, "", nil).status)
	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodPost, "/_sim/directory/expire-delta", "", map[string]any{"tenant": b.tenant}).status)
	r = b.do(t, http.MethodGet, "/_sim/groups", "", nil)
	require.Equal(t, http.StatusOK, r.status)
}

func TestGroupsListedInPages(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 20, Seed: 5})
	token := b.graphToken(t)
	want := map[string]string{}
	for _, g := range b.sim.Groups(b.tenant) {
		want[g.ID] = g.DisplayName
	}
	got := map[string]string{}
	pages := 0
	for link := "/graph/v1.0/groups?$select=id,displayName&$top=4"; link != ""; pages++ {
		r := b.do(t, http.MethodGet, link, token, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		for _, v := range m["value"].([]any) {
			g := v.(map[string]any)
			got[g["id"].(string)] = g["displayName"].(string)
		}
		link, _ = m["@odata.nextLink"].(string)
	}
	require.Equal(t, want, got)
	require.Equal(t, 2, pages, "six groups, four a page")
	r := b.do(t, http.MethodGet, "/graph/v1.0/groups/"+b.sim.Groups(b.tenant)[0].ID+"/transitiveMembers/microsoft.graph.user/$count", token, nil)
	require.Equal(t, http.StatusBadRequest, r.status, "$count is an advanced query: ConsistencyLevel: eventual")
	r = b.do(t, http.MethodGet, "/graph/v1.0/groups?$select=mail", token, nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	r = b.do(t, http.MethodGet, "/graph/v1.0/groups?$skiptoken=bWVtYmVyczp4", token, nil)
	require.Equal(t, http.StatusBadRequest, r.status, "a members token is not a groups token")
}
