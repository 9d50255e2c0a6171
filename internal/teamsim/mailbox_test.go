package teamsim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMailboxSettings(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 200, Seed: 3, TimeZones: []string{"Pacific Standard Time", "Europe/Berlin", ""}})
	token := b.graphToken(t)
	seen := map[string]int{}
	var member, guest User
	for _, u := range b.sim.Users(b.tenant) {
		if u.UserType == "Guest" {
			guest = u
			continue
		}
		member = u
		seen[b.sim.TimeZone(b.tenant, u.ID)]++
	}
	require.Len(t, seen, 3, "every configured zone, and users without one: %v", seen)

	r := b.do(t, http.MethodGet, "/graph/v1.0/users/"+member.ID+"/mailboxSettings", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, b.sim.TimeZone(b.tenant, member.ID), m["timeZone"])
	require.Contains(t, m, "workingHours")
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+member.UPN+"/mailboxSettings?$select=timeZone", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.NotContains(t, r.json(t), "workingHours")
	require.Equal(t, b.sim.TimeZone(b.tenant, member.ID), r.json(t)["timeZone"])
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+member.ID+"/mailboxSettings/timeZone", token, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, b.sim.TimeZone(b.tenant, member.ID), r.json(t)["value"])

	require.NotEmpty(t, guest.ID)
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+guest.ID+"/mailboxSettings", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "MailboxNotEnabledForRESTAPI", r.errorCode(t))
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/00000000-0000-4000-8000-000000000000/mailboxSettings", token, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = b.do(t, http.MethodGet, "/graph/v1.0/users/"+member.ID+"/mailboxSettings", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)

	// In a $batch, as the product reads them.
	r = b.do(t, http.MethodPost, "/graph/v1.0/$batch", token, map[string]any{"requests": []map[string]string{
		{"id": "1", "method": "GET", "url": "/users/" + member.ID + "/mailboxSettings?$select=timeZone"},
		{"id": "2", "method": "GET", "url": "/users/" + guest.ID + "/mailboxSettings"},
	}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	resps := r.json(t)["responses"].([]any)
	require.Len(t, resps, 2)
	first, second := resps[0].(map[string]any), resps[1].(map[string]any)
	require.EqualValues(t, http.StatusOK, first["status"])
	require.Equal(t, b.sim.TimeZone(b.tenant, member.ID), first["body"].(map[string]any)["timeZone"])
	require.EqualValues(t, http.StatusNotFound, second["status"])
	require.EqualValues(t, 8, b.sim.Ledger().Requests[KindGraphMailbox], "six alone, two in the batch")
}

func TestDefaultTimeZones(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 500, Seed: 3})
	zones := map[string]bool{}
	for _, u := range b.sim.Users(b.tenant) {
		zones[b.sim.TimeZone(b.tenant, u.ID)] = true
	}
	for _, z := range DefaultTimeZones {
		require.True(t, zones[z], "zone %q given to someone", z)
	}
}
