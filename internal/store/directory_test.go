package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func TestDirectoryCache(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := testenv.FreeTenant(t)
	require.NoError(t, s.PutProfiles(ctx, tenant, []broadcast.Profile{
		{ID: userN(1), DisplayName: "Ada", UserPrincipalName: "Ada@Contoso.com"},
		{ID: userN(2), DisplayName: "Bob", UserType: "Guest"},
	}))
	got, err := s.Profiles(ctx, tenant, []string{userN(1), userN(2), userN(3)})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "Ada", got[userN(1)].DisplayName)
	require.True(t, got[userN(2)].Guest())

	ids, err := s.UserIDsByUPN(ctx, tenant, []string{"ada@contoso.COM", "nobody@contoso.com"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"ada@contoso.COM": userN(1)}, ids)

	require.NoError(t, s.RemoveProfiles(ctx, tenant, []string{userN(1)}))
	got, err = s.Profiles(ctx, tenant, []string{userN(1)})
	require.NoError(t, err)
	require.Empty(t, got)
	ids, err = s.UserIDsByUPN(ctx, tenant, []string{"ada@contoso.com"})
	require.NoError(t, err)
	require.Empty(t, ids, "a removed user's name is forgotten too")
}
