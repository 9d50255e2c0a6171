package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// newStore returns a store under a prefix of its own, whose every command
// is checked: one slot per script and MULTI, every key prefixed.
func newStore(t *testing.T) *Store {
	t.Helper()
	ks, err := NewKeyspace("test-" + uuid.NewString()[:8] + ":")
	require.NoError(t, err)
	return storeUnder(t, ks)
}

// storeUnder returns a store of its own client under ks, as another
// process of the same application has.
func storeUnder(t *testing.T, ks Keyspace) *Store {
	t.Helper()
	rdb, err := Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	check := &keyCheck{prefix: ks.Prefix()}
	rdb.AddHook(check)
	t.Cleanup(func() {
		rdb.Close()
		check.report(t)
	})
	return New(rdb, WithKeyspace(ks))
}

func newBroadcast(t *testing.T, s *Store, users ...string) *broadcast.Broadcast {
	t.Helper()
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: testenv.FreeTenant(t),
		Message: broadcast.Message{Text: "hello"}, Audience: broadcast.Audience{UserIDs: users, AllUsers: len(users) == 0},
		Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(t, s.CreateBroadcast(context.Background(), b, []byte(`{"type":"message","text":"hello"}`)))
	return b
}

func userN(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

func TestCreateAndRead(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s, userN(1), userN(2), userN(3))

	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, b.TenantID, got.TenantID)
	require.Equal(t, broadcast.StatusExpanding, got.Status)
	require.Equal(t, "hello", got.Message.Text)
	require.Equal(t, b.CreatedAt, got.CreatedAt)
	act, err := s.Activity(ctx, b.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"message","text":"hello"}`, string(act))
	page, err := s.AudienceInput(ctx, b.ID, InputUserIDs, 1, 5)
	require.NoError(t, err)
	require.Equal(t, []string{userN(2), userN(3)}, page)
	ids, err := s.Expanding(ctx)
	require.NoError(t, err)
	require.Contains(t, ids, b.ID)

	_, err = s.Broadcast(ctx, uuid.NewString())
	require.ErrorIs(t, err, ErrNotFound)
}

func TestAddRecipientsCountsOnce(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	added, err := s.AddRecipients(ctx, b.ID, []NewRecipient{
		{UserID: userN(1), State: broadcast.StatePending, ConversationID: "c1"},
		{UserID: userN(2), State: broadcast.StateInstalling},
	})
	require.NoError(t, err)
	require.True(t, added[0].New)
	require.True(t, added[1].New)

	// A resumed page adds the same users again: nothing moves.
	added, err = s.AddRecipients(ctx, b.ID, []NewRecipient{
		{UserID: userN(2), State: broadcast.StatePending},
		{UserID: userN(3), State: broadcast.StatePending},
	})
	require.NoError(t, err)
	require.Equal(t, Added{UserID: userN(2), State: broadcast.StateInstalling, New: false}, added[0])
	require.True(t, added[1].New)

	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: 3, Pending: 2, Installing: 1}, got.Counts)
	rec, err := s.Recipient(ctx, b.ID, userN(1))
	require.NoError(t, err)
	require.Equal(t, "c1", rec.ConversationID)
}

// A page larger than one ZADD's arguments, with a user listed twice, is
// recorded with exact counters, index entries and records.
func TestAddRecipientsLargePage(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	var news []NewRecipient
	for i := range 2500 {
		if i%2 == 0 {
			news = append(news, NewRecipient{UserID: userN(i), State: broadcast.StatePending, ConversationID: fmt.Sprintf("a:conv-%d", i)})
		} else {
			news = append(news, NewRecipient{UserID: userN(i), State: broadcast.StateInstalling})
		}
	}
	news = append(news, NewRecipient{UserID: userN(7), State: broadcast.StatePending, ConversationID: "a:other"})
	added, err := s.AddRecipients(ctx, b.ID, news)
	require.NoError(t, err)
	require.Len(t, added, 2501)
	require.True(t, added[2499].New)
	require.Equal(t, Added{UserID: userN(7), State: broadcast.StateInstalling, New: false}, added[2500])

	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: 2500, Pending: 1250, Installing: 1250}, got.Counts)
	n, err := s.Client().ZCard(ctx, s.keysOf(b.ID).idx[broadcast.StateInstalling]).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1250, n)
	rec, err := s.Recipient(ctx, b.ID, userN(1000))
	require.NoError(t, err)
	require.Equal(t, broadcast.StatePending, rec.State)
	require.Equal(t, "a:conv-1000", rec.ConversationID)
	rec, err = s.Recipient(ctx, b.ID, userN(7))
	require.NoError(t, err)
	require.Equal(t, broadcast.StateInstalling, rec.State)
	require.Empty(t, rec.ConversationID)
	require.WithinDuration(t, time.Now(), rec.UpdatedAt, time.Minute)

	// A state no index exists for is refused before anything is written.
	_, err = s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(9000), State: broadcast.StatePending}, {UserID: userN(9001), State: "bogus"}})
	require.Error(t, err)
	_, err = s.Recipient(ctx, b.ID, userN(9000))
	require.ErrorIs(t, err, ErrNotFound)
}

func TestTransitionClaimsAndNeverLeavesFinal(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending}})
	require.NoError(t, err)
	claim := Change{From: []broadcast.State{broadcast.StatePending, broadcast.StateSending}, To: broadcast.StateSending,
		Owner: "a", Lease: time.Minute, CountAttempt: true}

	res, err := s.Transition(ctx, b.ID, userN(1), claim)
	require.NoError(t, err)
	require.True(t, res.Applied)
	require.Equal(t, broadcast.StatePending, res.Prev)
	require.Equal(t, 1, res.Recipient.Attempts)

	other := claim
	other.Owner = "b"
	res, err = s.Transition(ctx, b.ID, userN(1), other)
	require.NoError(t, err)
	require.True(t, res.Busy, "a live claim of another owner is refused")
	require.False(t, res.Applied)

	// Once the lease has run out, another owner may take over.
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	res, err = s.Transition(ctx, b.ID, userN(1), other)
	require.NoError(t, err)
	require.True(t, res.Applied)
	require.Equal(t, 2, res.Recipient.Attempts)
	s.now = time.Now

	res, err = s.Transition(ctx, b.ID, userN(1), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: "act-1"})
	require.NoError(t, err)
	require.True(t, res.Applied)
	require.Equal(t, "act-1", res.Recipient.ActivityID)

	for _, c := range []Change{claim, {To: broadcast.StateFailed}, {From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateFailed}} {
		res, err = s.Transition(ctx, b.ID, userN(1), c)
		require.NoError(t, err)
		require.False(t, res.Applied, "sent is final")
		require.Equal(t, broadcast.StateSent, res.Prev)
	}
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: 1, Sent: 1, PossibleDuplicates: 1}, got.Counts,
		"the takeover of a claim that ran out is counted: the first sender may have delivered")

	_, err = s.Transition(ctx, b.ID, userN(9), claim)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestCompletesWhenExpandedAndAllFinal(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	_, err := s.AddRecipients(ctx, b.ID, []NewRecipient{{UserID: userN(1), State: broadcast.StatePending}, {UserID: userN(2), State: broadcast.StatePending}})
	require.NoError(t, err)
	_, err = s.Transition(ctx, b.ID, userN(1), Change{To: broadcast.StateBlocked, Reason: broadcast.ReasonBlockedByUser})
	require.NoError(t, err)

	completed, err := s.FinishExpansion(ctx, b.ID)
	require.NoError(t, err)
	require.False(t, completed)
	got, err := s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusSending, got.Status)
	ids, err := s.Expanding(ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, b.ID)

	_, err = s.Transition(ctx, b.ID, userN(2), Change{To: broadcast.StateSent})
	require.NoError(t, err)
	got, err = s.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCompleted, got.Status)
	require.NotNil(t, got.CompletedAt)
	require.Equal(t, broadcast.Counts{Total: 2, Sent: 1, Blocked: 1}, got.Counts)
}

func TestRecipientsPages(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	var news []NewRecipient
	for i := range 25 {
		st := broadcast.StatePending
		if i%5 == 0 {
			st = broadcast.StateInstalling
		}
		news = append(news, NewRecipient{UserID: userN(i), State: st})
	}
	_, err := s.AddRecipients(ctx, b.ID, news)
	require.NoError(t, err)

	collect := func(state broadcast.State, limit int) []string {
		var users []string
		cursor := ""
		for {
			page, next, err := s.Recipients(ctx, b.ID, state, cursor, limit)
			require.NoError(t, err)
			for _, r := range page {
				if state != "" {
					require.Equal(t, state, r.State)
				}
				users = append(users, r.UserID)
			}
			if next == "" {
				return users
			}
			cursor = next
		}
	}
	require.Len(t, collect(broadcast.StatePending, 7), 20)
	require.Equal(t, []string{userN(0), userN(5), userN(10), userN(15), userN(20)}, collect(broadcast.StateInstalling, 2))
	require.ElementsMatch(t, func() []string {
		var all []string
		for i := range 25 {
			all = append(all, userN(i))
		}
		return all
	}(), collect("", 10))
	require.Empty(t, collect(broadcast.StateFailed, 10))

	_, _, err = s.Recipients(ctx, b.ID, "", "not-a-cursor", 10)
	require.ErrorIs(t, err, ErrBadCursor)
}

func TestConversationsAndPauses(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := testenv.FreeTenant(t)
	require.NoError(t, s.SetConversation(ctx, tenant, userN(1), "conv-1"))
	got, err := s.Conversations(ctx, tenant, []string{userN(1), userN(2)})
	require.NoError(t, err)
	require.Equal(t, map[string]string{userN(1): "conv-1"}, got)

	require.NoError(t, s.ForgetConversation(ctx, tenant, userN(1), "another"))
	got, _ = s.Conversations(ctx, tenant, []string{userN(1)})
	require.Len(t, got, 1, "a newer conversation is not forgotten")
	require.NoError(t, s.ForgetConversation(ctx, tenant, userN(1), "conv-1"))
	got, _ = s.Conversations(ctx, tenant, []string{userN(1)})
	require.Empty(t, got)

	left, err := s.PauseLeft(ctx, tenant)
	require.NoError(t, err)
	require.LessOrEqual(t, left, time.Duration(0))
	left, _, _, err = s.Throttle(ctx, tenant, 3*time.Second, 100)
	require.NoError(t, err)
	require.InDelta(t, 3*time.Second, left, float64(100*time.Millisecond))
	left, _, _, err = s.Throttle(ctx, tenant, time.Second, 100)
	require.NoError(t, err)
	require.Greater(t, left, 2*time.Second, "a shorter pause does not shorten it")

	// No slot is handed out before the pause ends, and slots are spaced.
	// The second wait is the first plus one slot (1/rate) less the time
	// between the two calls, which only the local clock bounds.
	start := time.Now()
	wait, _, ok, err := s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Greater(t, wait, 2*time.Second)
	wait2, rate, ok, err := s.Reserve(ctx, tenant, 100, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	between := time.Since(start)
	// The 429 lowered the rate below the configured 100/s.
	spacing := time.Duration(float64(time.Second) / rate)
	require.LessOrEqual(t, wait2, wait+spacing+time.Millisecond, "slots are spaced by 1/rate")
	require.GreaterOrEqual(t, wait2, wait+spacing-between-time.Millisecond, "slots are spaced by 1/rate")
}

// An id registered for expansion whose record is not written yet is kept;
// one left without a record for longer than the grace is dropped.
func TestForgetStaleKeepsYoungRegistrations(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	b := newBroadcast(t, s)
	require.NoError(t, s.ForgetStale(ctx, b.ID, time.Minute))
	ids, err := s.Expanding(ctx)
	require.NoError(t, err)
	require.Contains(t, ids, b.ID, "a young registration stays")

	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	require.NoError(t, s.ForgetStale(ctx, b.ID, time.Minute))
	s.now = time.Now
	ids, err = s.Expanding(ctx)
	require.NoError(t, err)
	require.NotContains(t, ids, b.ID)
}
