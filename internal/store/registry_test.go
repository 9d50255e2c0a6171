package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func createWith(t *testing.T, s *Store, status broadcast.Status, sendAt time.Time) *broadcast.Broadcast {
	t.Helper()
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: testenv.FreeTenant(t), Message: broadcast.Message{Text: "hello"},
		Audience: broadcast.Audience{UserIDs: []string{userN(1)}}, Status: status, SendAt: &sendAt,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if status == broadcast.StatusPendingApproval {
		b.Approval = &broadcast.Approval{Rule: "all-users"}
	}
	require.NoError(t, s.CreateBroadcast(context.Background(), b, []byte(`{}`)))
	return b
}

// A start whose process died after its script, before it registered the
// expansion, left the broadcast expanding in broadcasts:scheduled: the
// next poll registers the expansion, then unschedules it.
func TestStartCutShortIsSettledByTheNextPoll(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := createWith(t, s, broadcast.StatusScheduled, time.Now().Add(-time.Second))
	require.NoError(t, s.rdb.HSet(ctx, s.keysOf(b.ID).meta, "status", string(broadcast.StatusExpanding)).Err())

	started, verdict, err := s.StartScheduled(ctx, b.ID, []string{b.TenantID})
	require.NoError(t, err)
	require.False(t, started)
	require.Equal(t, "expanding", verdict)
	expanding, err := s.Expanding(ctx)
	require.NoError(t, err)
	require.Contains(t, expanding, b.ID)
	_, scheduled, err := s.Scheduled(ctx, b.ID)
	require.NoError(t, err)
	require.False(t, scheduled)
}

// A scheduled registration whose record is not written yet (the create
// registers first) stays until its sendAt is a minute past.
func TestScheduledWithoutRecordWaitsForItsCreate(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	id := uuid.NewString()
	require.NoError(t, s.register(ctx, id, registration{s.Key(keyScheduled), time.Now().Add(-time.Second).UnixMilli()}))
	_, verdict, err := s.StartScheduled(ctx, id, []string{testenv.FreeTenant(t)})
	require.NoError(t, err)
	require.Equal(t, "missing", verdict)
	_, scheduled, err := s.Scheduled(ctx, id)
	require.NoError(t, err)
	require.True(t, scheduled, "young: its create may be writing it")

	require.NoError(t, s.register(ctx, id, registration{s.Key(keyScheduled), time.Now().Add(-2 * registryGrace).UnixMilli()}))
	_, _, err = s.StartScheduled(ctx, id, nil)
	require.NoError(t, err)
	_, scheduled, err = s.Scheduled(ctx, id)
	require.NoError(t, err)
	require.False(t, scheduled, "past the grace: forgotten")
}

// A decision whose process died after its script left the broadcast in
// broadcasts:pending_approval: the approvals list leaves it out and moves
// it to the registry of its status.
func TestDecisionCutShortIsSettledByTheApprovalsList(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	b := createWith(t, s, broadcast.StatusPendingApproval, at)
	waiting := createWith(t, s, broadcast.StatusPendingApproval, at)
	require.NoError(t, s.rdb.HSet(ctx, s.keysOf(b.ID).meta, "status", string(broadcast.StatusScheduled)).Err())

	pending, err := s.PendingApproval(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{waiting.ID}, pending)
	when, scheduled, err := s.Scheduled(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, scheduled)
	require.Equal(t, at.UTC(), when)
	_, err = s.rdb.ZScore(ctx, s.Key(keyPendingApproval), b.ID).Result()
	require.ErrorIs(t, err, redis.Nil, "left pending_approval")
}

// A cancel registers the sweep before its script: the entry of a cancel
// that did not apply is forgotten by the sweep only once a minute old,
// and a cancel that was too late (completed) unregisters it at once.
func TestCancelRegistersTheSweepFirst(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s, userN(1))
	require.NoError(t, s.beforeCancel(ctx, b.ID))
	require.NoError(t, s.ForgetCanceling(ctx, b.ID))
	canceling, err := s.Canceling(ctx)
	require.NoError(t, err)
	require.Contains(t, canceling, b.ID, "young: its cancel may be about to run")

	st, err := s.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusExpanding, st)
	canceling, err = s.Canceling(ctx)
	require.NoError(t, err)
	require.Contains(t, canceling, b.ID)

	done := createWith(t, s, broadcast.StatusScheduled, time.Now().Add(time.Hour))
	st, err = s.Cancel(ctx, done.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusScheduled, st)
	canceling, err = s.Canceling(ctx)
	require.NoError(t, err)
	require.NotContains(t, canceling, done.ID, "canceled at once: nothing to sweep")
	_, scheduled, err := s.Scheduled(ctx, done.ID)
	require.NoError(t, err)
	require.False(t, scheduled)
}
