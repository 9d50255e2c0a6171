package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func newScheduled(t *testing.T, s *Store, at time.Time) *broadcast.Broadcast {
	t.Helper()
	at = at.UTC().Truncate(time.Millisecond)
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: testenv.FreeTenant(t),
		Message: broadcast.Message{Text: "later"}, Audience: broadcast.Audience{UserIDs: []string{userN(1), userN(2)}},
		Status: broadcast.StatusScheduled, SendAt: &at, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(t, s.CreateBroadcast(context.Background(), b, []byte(`{"type":"message","text":"later"}`)))
	return b
}

func (s *Store) due(t *testing.T, id string) bool {
	t.Helper()
	ids, err := s.DueScheduled(context.Background(), 10_000)
	require.NoError(t, err)
	return slices.Contains(ids, id)
}

func (s *Store) expanding(t *testing.T, id string) bool {
	t.Helper()
	ids, err := s.Expanding(context.Background())
	require.NoError(t, err)
	return slices.Contains(ids, id)
}

// A scheduled broadcast is recorded with its sendAt, is not registered
// for expansion, is not due before its time, and once due is started by
// exactly one of several concurrent callers, in one step: expanding and
// registered for expansion.
func TestScheduledStartsOnceWhenDue(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newScheduled(t, s, time.Now().Add(1500*time.Millisecond))

	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusScheduled, got.Status)
	require.Equal(t, broadcast.KindBroadcast, got.Kind)
	require.NotNil(t, got.SendAt)
	require.True(t, b.SendAt.Equal(*got.SendAt))
	require.Nil(t, got.StartedAt)
	require.False(t, s.expanding(t, b.ID), "a scheduled broadcast is not registered for expansion")
	at, ok, err := s.Scheduled(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, at.Equal(*b.SendAt))

	// Before its time: not listed, and a start is refused.
	if !s.due(t, b.ID) {
		started, verdict, err := s.StartScheduled(ctx, b.ID, []string{b.TenantID})
		require.NoError(t, err)
		if !started { // unless the time came in between
			require.Equal(t, "early", verdict)
			got, err := s.Broadcast(ctx, b.ID)
			require.NoError(t, err)
			require.Equal(t, broadcast.StatusScheduled, got.Status)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return s.due(t, b.ID) }, "the broadcast becomes due")

	// A dispatcher of another deployment leaves it.
	started, verdict, err := s.StartScheduled(ctx, b.ID, []string{testenv.FreeTenant(t)})
	require.NoError(t, err)
	require.False(t, started)
	require.Equal(t, "foreign", verdict)

	var wg sync.WaitGroup
	var mu sync.Mutex
	starts := 0
	for range 8 {
		wg.Go(func() {
			started, _, err := s.StartScheduled(ctx, b.ID, []string{b.TenantID})
			require.NoError(t, err)
			if started {
				mu.Lock()
				starts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, starts, "one caller starts it")
	got, err = s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusExpanding, got.Status)
	require.NotNil(t, got.StartedAt)
	require.False(t, got.StartedAt.Before(*b.SendAt), "started %s, before its sendAt %s", got.StartedAt, b.SendAt)
	require.True(t, s.expanding(t, b.ID), "registered for expansion: any dispatcher resumes it")
	require.False(t, s.due(t, b.ID))
	_, ok, err = s.Scheduled(ctx, b.ID)
	require.NoError(t, err)
	require.False(t, ok)
}

// A cancel racing the start: one of them wins, each sees the other's
// result, and the sets and counters agree with the winner.
func TestCancelRacesScheduledStart(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	wins := map[string]int{}
	for range 40 {
		b := newScheduled(t, s, time.Now().Add(-time.Millisecond))
		var started bool
		var prev broadcast.Status
		var wg sync.WaitGroup
		wg.Go(func() {
			var err error
			started, _, err = s.StartScheduled(ctx, b.ID, []string{b.TenantID})
			require.NoError(t, err)
		})
		wg.Go(func() {
			var err error
			prev, err = s.Cancel(ctx, b.ID)
			require.NoError(t, err)
		})
		wg.Wait()
		got, err := s.Broadcast(ctx, b.ID)
		require.NoError(t, err)
		canceling, err := s.Canceling(ctx)
		require.NoError(t, err)
		require.False(t, s.due(t, b.ID), "unscheduled either way")
		require.Zero(t, got.Counts.Total)
		if started {
			wins["start"]++
			require.Equal(t, broadcast.StatusExpanding, prev, "the cancel came after the start")
			require.Equal(t, broadcast.StatusCanceling, got.Status)
			require.True(t, s.expanding(t, b.ID), "its expansion runs, to stop at once")
			require.Contains(t, canceling, b.ID, "its sweep is registered")
		} else {
			wins["cancel"]++
			require.Equal(t, broadcast.StatusScheduled, prev, "the cancel came first")
			require.Equal(t, broadcast.StatusCanceled, got.Status)
			require.NotNil(t, got.CanceledAt)
			require.NotNil(t, got.CompletedAt)
			require.False(t, s.expanding(t, b.ID))
			require.NotContains(t, canceling, b.ID, "nothing to sweep")
			started, verdict, err := s.StartScheduled(ctx, b.ID, []string{b.TenantID})
			require.NoError(t, err)
			require.False(t, started)
			require.Equal(t, string(broadcast.StatusCanceled), verdict)
		}
		// Clean up the started ones' registrations: no dispatcher runs here.
		_, _ = s.FinishExpansion(ctx, b.ID)
		_, _ = s.SweepCanceled(ctx, b.ID, 10)
	}
	t.Logf("race winners: %v", wins)
}
