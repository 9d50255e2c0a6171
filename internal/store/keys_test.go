package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// Two stores under different prefixes on one Redis see nothing of each
// other: not a broadcast, not a listing, not a registration, not a
// conversation; the same id is a new broadcast in each.
func TestPrefixesKeepStoresApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := newStore(t), newStore(t)
	require.NotEqual(t, a.Prefix(), b.Prefix())

	bc := newBroadcast(t, a, userN(1))
	_, err := b.Broadcast(ctx, bc.ID)
	require.ErrorIs(t, err, ErrNotFound)
	listed, _, err := b.ListBroadcasts(ctx, ListFilter{TenantID: bc.TenantID, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, listed)
	expanding, err := b.Expanding(ctx)
	require.NoError(t, err)
	require.NotContains(t, expanding, bc.ID)
	expanding, err = a.Expanding(ctx)
	require.NoError(t, err)
	require.Contains(t, expanding, bc.ID)

	require.NoError(t, a.SetConversation(ctx, bc.TenantID, userN(1), "a:conv"))
	convs, err := b.Conversations(ctx, bc.TenantID, []string{userN(1)})
	require.NoError(t, err)
	require.Empty(t, convs[userN(1)])

	same := *bc
	same.Message = broadcast.Message{Text: "the other application's"}
	require.NoError(t, b.CreateBroadcast(ctx, &same, []byte(`{}`)))
	got, err := b.Broadcast(ctx, bc.ID)
	require.NoError(t, err)
	require.Equal(t, "the other application's", got.Message.Text)
	got, err = a.Broadcast(ctx, bc.ID)
	require.NoError(t, err)
	require.Equal(t, "hello", got.Message.Text)
}

func TestNewKeyspaceRefusesBadPrefixes(t *testing.T) {
	for _, p := range []string{"{app}:", "a b", "é", string(make([]byte, 65))} {
		_, err := NewKeyspace(p)
		require.ErrorIs(t, err, redisclient.ErrBadPrefix, "%q", p)
		require.ErrorContains(t, err, "REDIS_PREFIX")
	}
	ks, err := NewKeyspace("app1:")
	require.NoError(t, err)
	require.Equal(t, "app1:{b:x}:meta", ks.MetaKey("x"))
}
