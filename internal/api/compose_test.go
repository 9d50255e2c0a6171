package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// seedDirectory caches profiles as a finished directory sync would.
func seedDirectory(t *testing.T, e *pipelinetest.Env, ps []broadcast.Profile) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, e.Store.SaveDirectory(ctx, e.Tenant, ps, nil, false))
	require.NoError(t, e.Store.FinishSync(ctx, e.Tenant, "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x"))
}

func TestRenderIsWhatTheSendersPost(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	ada := broadcast.Profile{ID: "0b4bb4e8-8c7a-4bd3-9d55-0d6fbf6a7b01", DisplayName: `Ada "the" Lovelace`, GivenName: "Ada", UserPrincipalName: "ada@contoso.com"}
	seedDirectory(t, e, []broadcast.Profile{ada})
	path := "/v1/tenants/" + e.Tenant + "/render"

	body := `{"message":{"template":{"title":"Hello {{givenName}}","summary":"For **{{displayName}}**","buttons":[{"title":"Open","url":"https://hr.example/x"}],"acknowledge":{"title":"Got it"}}},"as":"ADA@contoso.com"}`
	rec, _ := do(t, e.API, http.MethodPost, path, "application/json", body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got broadcast.Rendering
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	m := broadcast.Message{Template: &broadcast.Template{Title: "Hello {{givenName}}", Summary: "For **{{displayName}}**",
		Buttons: []broadcast.Button{{Title: "Open", URL: "https://hr.example/x"}}, Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}}
	built, err := message.Build(m)
	require.NoError(t, err)
	require.JSONEq(t, string(message.Personalize(built, ada)), string(got.Activity), "the senders' activity, personalised")
	require.Equal(t, message.WorstCaseUnits(built), got.Units)
	require.Equal(t, message.MaxActivityUnits, got.MaxUnits)
	require.Equal(t, ada.ID, got.As.ID)
	var card struct {
		Body []struct{ Text string } `json:"body"`
	}
	require.NoError(t, json.Unmarshal(got.Card, &card))
	require.Equal(t, "Hello Ada", card.Body[0].Text)
	require.Equal(t, `For **Ada "the" Lovelace**`, card.Body[1].Text)

	// Text has no card; without "as" the placeholders stay.
	rec, _ = do(t, e.API, http.MethodPost, path, "application/json", `{"message":{"text":"Hi {{givenName}}"}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	got = broadcast.Rendering{}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Empty(t, got.Card)
	require.Contains(t, string(got.Activity), "Hi {{givenName}}")
	require.Nil(t, got.As)

	// Over the budget: rendered, and measured over it (a create refuses it).
	long := strings.Repeat("x", message.MaxActivityUnits)
	rec, _ = do(t, e.API, http.MethodPost, path, "application/json", `{"message":{"text":"`+long+`"}}`)
	require.Equal(t, http.StatusOK, rec.Code)
	got = broadcast.Rendering{}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Greater(t, got.Units, got.MaxUnits)

	// Problems name their fields, as a create's do.
	rec, eb := do(t, e.API, http.MethodPost, path, "application/json", `{"message":{"template":{"title":"Hi","buttons":[{"title":"Go","url":"hr.example/x"}]}}}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "message.template.buttons[0].url", eb.Error.Fields[0].Field)
	rec, eb = do(t, e.API, http.MethodPost, path, "application/json", `{"message":{"text":"Hi"},"as":"nobody@contoso.com"}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.Equal(t, "as", eb.Error.Fields[0].Field)
	rec, eb = do(t, e.API, http.MethodPost, path, "application/json", `{"message":{"text":"Hi"},"as":"not a user"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "as", eb.Error.Fields[0].Field)
	rec, _ = do(t, e.API, http.MethodPost, "/v1/tenants/12345678-1234-1234-1234-123456789012/render", "application/json", `{"message":{"text":"Hi"}}`)
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func TestAudienceSizeFromTheDirectoryCache(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	path := "/v1/tenants/" + e.Tenant + "/audience-size"
	size := func(audience string) broadcast.AudienceSize {
		t.Helper()
		rec, _ := do(t, e.API, http.MethodPost, path, "application/json", `{"audience":`+audience+`}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var s broadcast.AudienceSize
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &s))
		return s
	}
	// Never synced: nobody known, and not exact.
	s := size(`{"allUsers":true}`)
	require.Equal(t, broadcast.AudienceSize{Size: 0, Exact: false}, s)

	off := false
	ids := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003",
		"00000000-0000-4000-8000-000000000004", "00000000-0000-4000-8000-000000000005"}
	seedDirectory(t, e, []broadcast.Profile{
		{ID: ids[0], UserPrincipalName: "a@contoso.com"},
		{ID: ids[1], UserPrincipalName: "b@contoso.com"},
		{ID: ids[2], UserPrincipalName: "c@contoso.com"},
		{ID: ids[3], UserPrincipalName: "guest@fabrikam.com", UserType: "Guest"},
		{ID: ids[4], UserPrincipalName: "off@contoso.com", AccountEnabled: &off},
	})
	s = size(`{"allUsers":true}`)
	require.True(t, s.Exact)
	require.EqualValues(t, 3, s.Size)
	require.NotNil(t, s.DirectorySyncedAt)
	require.EqualValues(t, 4, size(`{"allUsers":true,"includeGuests":true}`).Size)
	// Exclusions the cache knows are taken off; the guest named by UPN is added.
	s = size(`{"allUsers":true,"upns":["guest@fabrikam.com"],"exclude":{"userIds":["` + ids[0] + `"],"upns":["B@contoso.com","off@contoso.com"]}}`)
	require.True(t, s.Exact)
	require.EqualValues(t, 2, s.Size, "c and the guest")
	// All users hold every group's members.
	s = size(`{"allUsers":true,"groupIds":["00000000-0000-4000-8000-0000000000aa"]}`)
	require.True(t, s.Exact)
	require.EqualValues(t, 3, s.Size)
	// Named users: the unknown ones are counted apart, groups not at all.
	s = size(`{"userIds":["` + ids[0] + `","00000000-0000-4000-8000-0000000000ff"],"upns":["nobody@contoso.com"],"groupIds":["00000000-0000-4000-8000-0000000000aa"]}`)
	require.Equal(t, broadcast.AudienceSize{Size: 1, UnknownUsers: 2, UncountedGroups: 1}, s)
	// The audience is checked as a create's.
	rec, eb := do(t, e.API, http.MethodPost, path, "application/json", `{"audience":{"groupIds":["Sales"]}}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "audience.groupIds[0]", eb.Error.Fields[0].Field)
}

func TestGroupsFoundByNameOnceSynced(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1}})
	path := "/v1/tenants/" + e.Tenant + "/groups?search="
	find := func(q string) []string {
		t.Helper()
		rec, _ := do(t, e.API, http.MethodGet, path+q, "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page struct {
			Groups []struct{ ID, DisplayName string }
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		var names []string
		for _, g := range page.Groups {
			names = append(names, g.DisplayName)
			require.True(t, broadcast.IsGUID(g.ID))
		}
		return names
	}
	require.Empty(t, find("sales"), "nothing before a directory sync")
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "hi"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitCompleted(b.ID, time.Minute) // an allUsers broadcast syncs the directory
	require.Equal(t, []string{"Sales"}, find("ALE"))
	require.Equal(t, []string{"People Managers", "Europe"}, find("pe"), "names starting with it first")
	// A group's members are counted by Graph: an upper bound.
	var sales teamsim.Group
	for _, g := range e.Sim.Groups(e.Tenant) {
		if g.DisplayName == "Sales" {
			sales = g
		}
	}
	members, err := e.Sim.GroupMembers(e.Tenant, sales.ID)
	require.NoError(t, err)
	rec, _ := do(t, e.API, http.MethodPost, "/v1/tenants/"+e.Tenant+"/audience-size", "application/json",
		`{"audience":{"groupIds":["`+sales.ID+`","00000000-0000-4000-8000-0000000000aa"]}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var size broadcast.AudienceSize
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &size))
	require.Equal(t, broadcast.AudienceSize{GroupMembers: int64(len(members)), CountedGroups: 1, UncountedGroups: 1}, size)

	rec, eb := do(t, e.API, http.MethodGet, path+"x&limit=0", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "limit", eb.Error.Fields[0].Field)
}
