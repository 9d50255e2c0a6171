package directory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/directory"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Each sync caches the names of the tenant's groups, page by page, and an
// author finds them by any part of their name, those starting with it first.
func TestSyncCachesGroupNames(t *testing.T) {
	t.Parallel()
	var specs []teamsim.GroupSpec
	for _, n := range []string{"Sales", "Sales Europe", "Presales", "Engineering"} {
		specs = append(specs, teamsim.GroupSpec{Name: n, Members: 0.5})
	}
	b := setup(t, teamsim.Config{UsersPerTenant: 10, Groups: specs})
	res, err := b.syncer(t, nil).Sync(context.Background(), b.tenant)
	require.NoError(t, err)
	require.Equal(t, 4, res.Groups)

	got, err := b.st.SearchGroups(context.Background(), b.tenant, "SALES", 10)
	require.NoError(t, err)
	var names []string
	byName := map[string]string{}
	for _, g := range got {
		names = append(names, g.DisplayName)
		byName[g.DisplayName] = g.ID
	}
	require.Equal(t, []string{"Sales", "Sales Europe", "Presales"}, names)
	for _, g := range b.sim.Groups(b.tenant) {
		if id, ok := byName[g.DisplayName]; ok {
			require.Equal(t, strings.ToLower(g.ID), id)
		}
	}
	got, err = b.st.SearchGroups(context.Background(), b.tenant, "sales", 1)
	require.NoError(t, err)
	require.Len(t, got, 1, "the limit holds")
}

// A source that lists no groups leaves the cache to users.
func TestSyncWithoutGroupSource(t *testing.T) {
	t.Parallel()
	b := setup(t, teamsim.Config{UsersPerTenant: 5})
	res, err := b.syncer(t, func(s directory.Source) directory.Source { return usersOnly{s} }).Sync(context.Background(), b.tenant)
	require.NoError(t, err)
	require.Zero(t, res.Groups)
	got, err := b.st.SearchGroups(context.Background(), b.tenant, "", 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

type usersOnly struct{ directory.Source }
