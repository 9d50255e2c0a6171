package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestInstallAndUninstallNotes(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant, user := uuid.NewString(), userN(1)

	_, uninstalled, err := s.Uninstalled(ctx, tenant, user)
	require.NoError(t, err)
	require.False(t, uninstalled)

	require.NoError(t, s.NoteInstalled(ctx, tenant, user, "a:one"))
	convs, err := s.Conversations(ctx, tenant, []string{user})
	require.NoError(t, err)
	require.Equal(t, map[string]string{user: "a:one"}, convs)

	at := time.UnixMilli(time.Now().UnixMilli()).UTC()
	require.NoError(t, s.NoteUninstalled(ctx, tenant, user, at))
	convs, err = s.Conversations(ctx, tenant, []string{user})
	require.NoError(t, err)
	require.Empty(t, convs, "the conversation is forgotten, whatever it was")
	got, uninstalled, err := s.Uninstalled(ctx, tenant, user)
	require.NoError(t, err)
	require.True(t, uninstalled)
	require.Equal(t, at, got)
	require.NoError(t, s.NoteUninstalled(ctx, tenant, user, at), "idempotent")

	require.NoError(t, s.NoteInstalled(ctx, tenant, user, "a:two"))
	_, uninstalled, err = s.Uninstalled(ctx, tenant, user)
	require.NoError(t, err)
	require.False(t, uninstalled, "a later install clears the uninstall")
}
