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

	fresh, err := s.NoteInstalled(ctx, tenant, user, "a:one")
	require.NoError(t, err)
	require.True(t, fresh)
	fresh, err = s.NoteInstalled(ctx, tenant, user, "a:one")
	require.NoError(t, err)
	require.False(t, fresh, "the same install announced twice")
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

	fresh, err = s.NoteInstalled(ctx, tenant, user, "a:two")
	require.NoError(t, err)
	require.True(t, fresh, "an install after an uninstall is new")
	_, uninstalled, err = s.Uninstalled(ctx, tenant, user)
	require.NoError(t, err)
	require.False(t, uninstalled, "a later install clears the uninstall")
}
