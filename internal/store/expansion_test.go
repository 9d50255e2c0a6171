package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Positions are saved only by the expansion lease's holder, and the
// expansion cursor never moves backwards; once the holder releases the
// lease, another dispatcher takes it and the old one's saves are refused.
func TestExpansionPositionsNeedTheLeaseAndMoveForwards(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddAudience(ctx, b.ID, []string{userN(1), userN(2), userN(3), userN(4)})
	require.NoError(t, err)

	held, err := s.TakeExpansion(ctx, b.ID, "a", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	held, err = s.TakeExpansion(ctx, b.ID, "b", time.Minute)
	require.NoError(t, err)
	require.False(t, held, "held by a")

	require.NoError(t, s.SaveResolution(ctx, b.ID, "a", "userIds", "2"))
	require.ErrorIs(t, s.SaveResolution(ctx, b.ID, "b", "userIds", "0"), ErrLeaseLost)
	res, err := s.Resolution(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "2", res.Cursor)

	require.NoError(t, s.SaveExpansionCursor(ctx, b.ID, "a", "aud:"+userN(2)))
	require.ErrorIs(t, s.SaveExpansionCursor(ctx, b.ID, "a", "aud:"+userN(1)), ErrCursorBackwards)
	require.ErrorIs(t, s.SaveExpansionCursor(ctx, b.ID, "b", "aud:"+userN(4)), ErrLeaseLost)
	require.NoError(t, s.SaveExpansionCursor(ctx, b.ID, "a", "aud:"+userN(3)))
	cursor, err := s.ExpansionCursor(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "aud:"+userN(3), cursor)

	require.NoError(t, s.ReleaseExpansion(ctx, b.ID, "a"))
	held, err = s.TakeExpansion(ctx, b.ID, "b", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	require.ErrorIs(t, s.RenewExpansion(ctx, b.ID, "a", time.Minute), ErrLeaseLost)
	require.ErrorIs(t, s.SaveExpansionCursor(ctx, b.ID, "a", "aud:"+userN(4)), ErrLeaseLost)
	require.NoError(t, s.SaveExpansionCursor(ctx, b.ID, "b", "aud:"+userN(4)))
}
