package teamsim

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPopulationIsDeterministicForASeed(t *testing.T) {
	t.Parallel()
	cfg := Config{UsersPerTenant: 1000, InstalledFraction: 0.9, BlockedFraction: 0.1, DisabledFraction: 0.05, Seed: 42}
	a := setup(t, cfg).sim.Users(testTenant)
	b := setup(t, cfg).sim.Users(testTenant)
	require.Equal(t, a, b)

	cfg.Seed = 43
	c := setup(t, cfg).sim.Users(testTenant)
	require.NotEqual(t, a[0].ID, c[0].ID)

	var installed, blocked, disabled, guests int
	shapes := map[string]int{}
	ids, upns := map[string]bool{}, map[string]bool{}
	for _, u := range a {
		require.False(t, ids[u.ID], "duplicate id %s", u.ID)
		require.False(t, upns[u.UPN], "duplicate UPN %s", u.UPN)
		ids[u.ID], upns[u.UPN] = true, true
		if u.Installed {
			installed++
		}
		if u.Blocked {
			blocked++
			require.True(t, u.Installed, "only installed users can have blocked the bot")
			shapes[u.BlockShape]++
		} else {
			require.Empty(t, u.BlockShape)
		}
		if u.Disabled {
			disabled++
		}
		switch u.UserType {
		case "Guest":
			guests++
			require.Contains(t, u.UPN, "#EXT#@")
		case "Member":
			require.NotContains(t, u.UPN, "#EXT#")
		default:
			t.Fatalf("user type %q", u.UserType)
		}
	}
	require.Equal(t, 900, installed)
	require.Equal(t, 90, blocked)
	require.Equal(t, 50, disabled)
	require.Equal(t, 10, guests)
	require.Positive(t, shapes[BlockShapeCode])
	require.Positive(t, shapes[BlockShape209])
	require.True(t, slices.IsSortedFunc(a, func(x, y User) int { return strings.Compare(x.ID, y.ID) }), "users are in id order")
}

func TestTenantsHaveTheirOwnPopulations(t *testing.T) {
	t.Parallel()
	other := "22222222-2222-3333-4444-555555555555"
	b := setup(t, Config{Tenants: []string{testTenant, other}, UsersPerTenant: 10})
	require.Len(t, b.sim.Users(other), 10)
	require.NotEqual(t, b.sim.Users(testTenant)[0].ID, b.sim.Users(other)[0].ID)
	require.Nil(t, b.sim.Users("unknown"))
	require.NotEqual(t, b.sim.tenants[testTenant].catalogID, b.sim.tenants[other].catalogID)
	require.NotEqual(t, testTeamsAppID, b.sim.tenants[testTenant].catalogID)
}
