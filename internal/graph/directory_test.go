package graph_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/token"
)

const (
	simApp    = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	simSecret = "test-secret-0123456789"
	simTenant = "11111111-2222-3333-4444-555555555555"
)

// simClient is a Client of the simulator's Graph.
func simClient(t *testing.T, cfg teamsim.Config) (*graph.Client, *teamsim.Sim) {
	t.Helper()
	cfg.Tenants, cfg.BotAppID, cfg.BotAppPassword, cfg.TeamsAppID = []string{simTenant}, simApp, simSecret, "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
	sim, err := teamsim.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 5 * time.Second}
	tokens, err := token.NewSource(token.Config{LoginURL: srv.URL + "/login", Tenant: simTenant, ClientID: simApp,
		ClientSecret: simSecret, Scope: token.ScopeGraph, HTTP: hc})
	require.NoError(t, err)
	c, err := graph.NewClient(graph.Config{BaseURL: srv.URL + "/graph/v1.0", Tokens: tokens, HTTP: hc, RPS: 1000, Logger: zap.NewNop()})
	require.NoError(t, err)
	return c, sim
}

// round follows a delta round from link to its deltaLink.
func round(t *testing.T, c *graph.Client, link string) (users []graph.DirectoryUser, deltaLink string, pages int) {
	t.Helper()
	for {
		p, err := c.UsersDelta(context.Background(), link)
		require.NoError(t, err)
		users = append(users, p.Users...)
		pages++
		if p.DeltaLink != "" {
			return users, p.DeltaLink, pages
		}
		link = p.NextLink
	}
}

func TestUsersDeltaOnTheSimulator(t *testing.T) {
	t.Parallel()
	c, sim := simClient(t, teamsim.Config{UsersPerTenant: 2100, Seed: 4})
	users, delta, pages := round(t, c, "")
	require.Len(t, users, 2100)
	require.Equal(t, 3, pages, "pages of 999")
	want := sim.Users(simTenant)
	require.Equal(t, want[0].ID, users[0].ID)
	require.Equal(t, want[0].Department, users[0].Department)
	require.Equal(t, want[0].UPN, users[0].UserPrincipalName)
	require.NotNil(t, users[0].AccountEnabled)

	gone := want[10].ID
	require.NoError(t, sim.RemoveUser(simTenant, gone))
	added, err := sim.AddUser(simTenant, teamsim.UserSpec{GivenName: "Zed"})
	require.NoError(t, err)
	changes, _, pages := round(t, c, delta)
	require.Equal(t, 1, pages)
	require.Len(t, changes, 2)
	byID := map[string]graph.DirectoryUser{}
	for _, u := range changes {
		byID[u.ID] = u
	}
	require.NotNil(t, byID[gone].Removed)
	require.Nil(t, byID[added.ID].Removed)
	require.Equal(t, "Zed", byID[added.ID].GivenName)

	require.NoError(t, sim.ExpireDeltaTokens(simTenant))
	_, err = c.UsersDelta(context.Background(), delta)
	require.ErrorIs(t, err, graph.ErrSyncReset)
}

func TestGroupMembersAndLookups(t *testing.T) {
	t.Parallel()
	c, sim := simClient(t, teamsim.Config{UsersPerTenant: 4000, Seed: 4})
	g := sim.Groups(simTenant)[0] // Engineering: 1,200 members
	want, err := sim.GroupMembers(simTenant, g.ID)
	require.NoError(t, err)
	var got []string
	next := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		users, link, err := c.GroupMembersPage(context.Background(), g.ID, next)
		require.NoError(t, err)
		for _, u := range users {
			got = append(got, u.ID)
		}
		if link == "" {
			break
		}
		next = link
	}
	require.Equal(t, want, got)
	_, _, err = c.GroupMembersPage(context.Background(), simTenant, "")
	require.ErrorIs(t, err, graph.ErrNotFound)

	users := sim.Users(simTenant)
	keys := []string{"nobody@example.com"}
	for _, u := range users[:45] {
		keys = append(keys, u.UPN)
	}
	keys = append(keys, users[50].ID)
	found, err := c.UsersByKey(context.Background(), keys)
	require.NoError(t, err)
	require.Len(t, found, 46)
	require.Equal(t, users[3].ID, found[users[3].UPN].ID)
	require.Equal(t, users[50].UPN, found[users[50].ID].UserPrincipalName)
	require.EqualValues(t, 3, sim.Ledger().Requests[teamsim.KindGraphBatch], "20 lookups a batch")

	u, err := c.User(context.Background(), users[7].UPN)
	require.NoError(t, err)
	require.Equal(t, users[7].ID, u.ID)
	_, err = c.User(context.Background(), "nobody@example.com")
	require.ErrorIs(t, err, graph.ErrNotFound)
}

// An inner request of a batch answered 429 is asked again after its
// Retry-After, alone; the others are kept.
func TestBatchRetriesThrottledLookups(t *testing.T) {
	t.Parallel()
	b := setup(t, func(n int, r *http.Request) answer {
		if n == 1 {
			return answer{status: 200, body: `{"responses":[
				{"id":"0","status":200,"body":{"id":"u0","userPrincipalName":"a@x.com"}},
				{"id":"1","status":429,"headers":{"Retry-After":"0.2"},"body":{"error":{"code":"TooManyRequests"}}},
				{"id":"2","status":404,"body":{"error":{"code":"Request_ResourceNotFound"}}}]}`}
		}
		return answer{status: 200, body: `{"responses":[{"id":"0","status":200,"body":{"id":"u1","userPrincipalName":"b@x.com"}}]}`}
	}, options{})
	found, err := b.client.UsersByKey(context.Background(), []string{"a@x.com", "b@x.com", "c@x.com"})
	require.NoError(t, err)
	require.Equal(t, "u0", found["a@x.com"].ID)
	require.Equal(t, "u1", found["b@x.com"].ID)
	require.NotContains(t, found, "c@x.com")
	seen := b.graph.Seen()
	require.Len(t, seen, 2)
	require.Contains(t, seen[1].Body, "/users/b@x.com?")
	require.NotContains(t, seen[1].Body, "a@x.com")
	require.GreaterOrEqual(t, seen[1].At.Sub(b.graph.AnsweredAt(1)), 150*time.Millisecond, "the Retry-After was waited")
	requireNoSecretsLogged(t, b.logs)
}

func TestDeltaRefusesForeignLink(t *testing.T) {
	t.Parallel()
	b := setup(t, always(answer{status: 200, body: `{"value":[]}`}), options{})
	_, err := b.client.UsersDelta(context.Background(), "https://evil.example.com/v1.0/users/delta?$deltatoken=x")
	require.ErrorContains(t, err, "refusing link to https://evil.example.com")
	_, _, err = b.client.GroupMembersPage(context.Background(), "g", "https://evil.example.com/x")
	require.ErrorContains(t, err, "refusing nextLink")
	require.Empty(t, b.graph.Seen())
	require.True(t, strings.HasPrefix(b.base, "http://"))
}
