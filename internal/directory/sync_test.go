package directory_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/directory"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

type bundle struct {
	tenant string
	sim    *teamsim.Sim
	st     *store.Store
	graphs *graph.Tenants
}

func setup(t *testing.T, cfg teamsim.Config) *bundle {
	t.Helper()
	tenant := testenv.FreeTenant(t)
	cfg.Tenants = []string{tenant}
	cfg.BotAppID, cfg.BotAppPassword, cfg.TeamsAppID = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f", "test-secret-0123456789", "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
	sim, err := teamsim.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	graphs := graph.NewTenants(graph.TenantsConfig{LoginURL: srv.URL + "/login", GraphURL: srv.URL + "/graph/v1.0",
		ClientID: cfg.BotAppID, ClientSecret: cfg.BotAppPassword, RPS: 1000, HTTP: &http.Client{Timeout: 10 * time.Second}})
	return &bundle{tenant: tenant, sim: sim, st: store.New(rdb), graphs: graphs}
}

func (b *bundle) syncer(t *testing.T, wrap func(directory.Source) directory.Source) *directory.Syncer {
	return directory.New(directory.Config{LeaseTTL: 3 * time.Second, Poll: 20 * time.Millisecond}, b.st,
		func(tenant string) (directory.Source, error) {
			c, err := b.graphs.For(tenant)
			if err != nil || wrap == nil {
				return c, err
			}
			return wrap(c), nil
		}, testenv.Logger(t))
}

func (b *bundle) deltaRequests() int64 { return b.sim.Ledger().Requests[teamsim.KindGraphUsersDelta] }

// listed returns every id of the cached members (or guests).
func (b *bundle) listed(t *testing.T, guests bool) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	after := ""
	for {
		ids, err := b.st.DirectoryIDs(context.Background(), b.tenant, guests, after, 1000)
		require.NoError(t, err)
		if len(ids) == 0 {
			return out
		}
		for _, id := range ids {
			out[id] = true
		}
		after = ids[len(ids)-1]
	}
}

// wantListed is what the cache should list from the simulator's directory.
func (b *bundle) wantListed(guests bool) map[string]bool {
	out := map[string]bool{}
	for _, u := range b.sim.Users(b.tenant) {
		if u.AccountEnabled && (u.UserType == "Guest") == guests {
			out[u.ID] = true
		}
	}
	return out
}

func TestSyncFullThenOnlyChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, teamsim.Config{UsersPerTenant: 2500, Seed: 11, AccountDisabledFraction: 0.01})
	ctx := context.Background()
	s := b.syncer(t, nil)

	res, err := s.Sync(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, directory.Result{Full: true, Pages: 3, Saved: 2500, Groups: defaultGroups}, res)
	require.EqualValues(t, 3, b.deltaRequests())
	require.Equal(t, b.wantListed(false), b.listed(t, false), "enabled members are listed")
	require.Equal(t, b.wantListed(true), b.listed(t, true), "enabled guests are listed apart")

	users := b.sim.Users(b.tenant)
	added, err := b.sim.AddUser(b.tenant, teamsim.UserSpec{GivenName: "Nadia"})
	require.NoError(t, err)
	off := false
	_, err = b.sim.ChangeUser(b.tenant, users[1].ID, teamsim.UserChange{AccountEnabled: &off})
	require.NoError(t, err)
	_, domain, _ := strings.Cut(users[2].UPN, "@")
	newUPN := "renamed@" + domain
	_, err = b.sim.ChangeUser(b.tenant, users[2].ID, teamsim.UserChange{UPN: &newUPN})
	require.NoError(t, err)
	require.NoError(t, b.sim.RemoveUser(b.tenant, users[3].ID))

	res, err = s.Sync(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, directory.Result{Pages: 1, Saved: 3, Removed: 1, Groups: defaultGroups}, res)
	require.EqualValues(t, 4, b.deltaRequests(), "the second sync reads one page of changes, not everyone again")
	listed := b.listed(t, false)
	require.Equal(t, b.wantListed(false), listed)
	require.True(t, listed[added.ID])
	require.False(t, listed[users[1].ID], "a disabled account is not listed")

	profiles, err := b.st.Profiles(ctx, b.tenant, []string{users[1].ID, users[3].ID, added.ID})
	require.NoError(t, err)
	require.Contains(t, profiles, users[1].ID, "a disabled user keeps a profile")
	require.False(t, *profiles[users[1].ID].AccountEnabled)
	require.NotContains(t, profiles, users[3].ID, "a removed user is forgotten")
	require.Equal(t, "Nadia", profiles[added.ID].GivenName)
	ids, err := b.st.UserIDsByUPN(ctx, b.tenant, []string{users[2].UPN, newUPN, users[3].UPN})
	require.NoError(t, err)
	require.Equal(t, map[string]string{newUPN: users[2].ID}, ids, "a renamed user's old UPN is forgotten")

	// Nothing changed: one request, nothing saved.
	res, err = s.Sync(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, directory.Result{Pages: 1, Groups: defaultGroups}, res)
}

// An expired deltaLink starts a full round, which also drops the users
// deleted meanwhile.
func TestExpiredDeltaLinkFallsBackToAFullResync(t *testing.T) {
	t.Parallel()
	b := setup(t, teamsim.Config{UsersPerTenant: 1200, Seed: 12})
	ctx := context.Background()
	s := b.syncer(t, nil)
	_, err := s.Sync(ctx, b.tenant)
	require.NoError(t, err)

	gone := b.sim.Users(b.tenant)[0].ID
	require.NoError(t, b.sim.RemoveUser(b.tenant, gone))
	require.NoError(t, b.sim.ExpireDeltaTokens(b.tenant))
	before := b.deltaRequests()
	res, err := s.Sync(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, directory.Result{Full: true, Pages: 2, Saved: 1199, Removed: 1, Groups: defaultGroups}, res)
	require.Equal(t, before+3, b.deltaRequests(), "the refused link, then two pages")
	require.Equal(t, b.wantListed(false), b.listed(t, false))
	p, err := b.st.Profiles(ctx, b.tenant, []string{gone})
	require.NoError(t, err)
	require.Empty(t, p)
}

// failAfter serves n pages, then fails.
type failAfter struct {
	directory.Source
	n     int64
	pages atomic.Int64
}

func (f *failAfter) UsersDelta(ctx context.Context, link string) (graph.DeltaPage, error) {
	if f.pages.Add(1) > f.n {
		return graph.DeltaPage{}, errors.New("injected: Graph unreachable")
	}
	return f.Source.UsersDelta(ctx, link)
}

// A sync that stops mid-round resumes at the page it had reached.
func TestSyncResumesMidRound(t *testing.T) {
	t.Parallel()
	b := setup(t, teamsim.Config{UsersPerTenant: 3500, Seed: 13})
	ctx := context.Background()
	_, err := b.syncer(t, func(s directory.Source) directory.Source { return &failAfter{Source: s, n: 2} }).Sync(ctx, b.tenant)
	require.ErrorContains(t, err, "injected")
	st, err := b.st.DirectorySync(ctx, b.tenant)
	require.NoError(t, err)
	require.NotEmpty(t, st.NextLink)
	require.True(t, st.Full)

	res, err := b.syncer(t, nil).Sync(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, directory.Result{Full: true, Pages: 2, Saved: 3500 - 2*999, Groups: defaultGroups}, res)
	require.EqualValues(t, 4, b.deltaRequests(), "each page read once")
	require.Equal(t, b.wantListed(false), b.listed(t, false), "the swept round kept the users of its first pages")
}

// Two dispatchers syncing a tenant at once: one lists, the other waits
// for it.
func TestOneSyncPerTenantAtATime(t *testing.T) {
	t.Parallel()
	b := setup(t, teamsim.Config{UsersPerTenant: 2500, Seed: 14, Latency: 300 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]directory.Result, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.syncer(t, nil).Sync(ctx, b.tenant)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.True(t, results[0].Waited != results[1].Waited, "one synced, one waited: %+v", results)
	require.EqualValues(t, 3, b.deltaRequests(), "the directory was listed once")
}

// defaultGroups is how many group names a sync of the simulator caches.
var defaultGroups = len(teamsim.DefaultGroups())
