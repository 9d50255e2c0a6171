package engage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

type bundle struct {
	t      *testing.T
	st     *store.Store
	eng    *engage.Store
	tenant string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	return &bundle{t: t, st: store.New(rdb), eng: engage.New(rdb, store.Keyspace{}), tenant: testenv.FreeTenant(t)}
}

func userN(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// broadcastTo records a broadcast that reached users (not yet indexed).
func (b *bundle) broadcastTo(users ...string) string {
	b.t.Helper()
	ctx := context.Background()
	bc := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: b.tenant, Message: broadcast.Message{Text: "hi"},
		Audience: broadcast.Audience{AllUsers: true}, Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(b.t, b.st.CreateBroadcast(ctx, bc, []byte(`{"type":"message","text":"hi"}`)))
	var rs []store.NewRecipient
	for _, u := range users {
		rs = append(rs, store.NewRecipient{UserID: u, State: broadcast.StateSent})
	}
	_, err := b.st.AddRecipients(ctx, bc.ID, rs)
	require.NoError(b.t, err)
	return bc.ID
}

func (b *bundle) readAt(id, user string) *time.Time {
	b.t.Helper()
	m, err := b.eng.Recipients(context.Background(), id, []string{user})
	require.NoError(b.t, err)
	return m[user].ReadAt
}

// Ids that are not numbers compare as strings; numbers by value, whatever
// their length or leading zeros; a number and another id not at all.
func TestActivityIDsCompare(t *testing.T) {
	t.Parallel()
	b, ctx := setup(t), context.Background()
	u := userN(1)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	sends := map[string]bool{"0099": true, "100": true, "101": false, "99999999999999999999": false, "f:abc": true, "f:abd": false}
	ids := map[string]string{}
	for act := range sends {
		ids[act] = b.broadcastTo(u)
		require.NoError(t, b.eng.NoteSent(ctx, b.tenant, u, ids[act], act, at))
	}
	n, err := b.eng.Receipt(ctx, b.tenant, u, "100", at)
	require.NoError(t, err)
	m, err := b.eng.Receipt(ctx, b.tenant, u, "f:abc", at)
	require.NoError(t, err)
	require.Equal(t, 3, n+m)
	for act, read := range sends {
		require.Equal(t, read, b.readAt(ids[act], u) != nil, act)
	}
}

// A user's index keeps the latest MaxSentPerUser messages.
func TestIndexIsBounded(t *testing.T) {
	t.Parallel()
	b, ctx := setup(t), context.Background()
	u := userN(2)
	id := b.broadcastTo(u)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range engage.MaxSentPerUser + 1 {
		require.NoError(t, b.eng.NoteSent(ctx, b.tenant, u, id, fmt.Sprint(1000+i), at.Add(time.Duration(i)*time.Second)))
	}
	got, err := b.eng.BroadcastOf(ctx, b.tenant, u, "1000")
	require.NoError(t, err)
	require.Empty(t, got, "the oldest went")
	got, err = b.eng.BroadcastOf(ctx, b.tenant, u, fmt.Sprint(1000+engage.MaxSentPerUser))
	require.NoError(t, err)
	require.Equal(t, id, got)
	latest, err := b.eng.Latest(ctx, b.tenant, u)
	require.NoError(t, err)
	require.Equal(t, id, latest)
}

// The series counts per minute for the first hour from the start, per
// hour after; an earlier read moves its count to the earlier bucket.
func TestSeries(t *testing.T) {
	t.Parallel()
	b, ctx := setup(t), context.Background()
	start := time.Date(2026, 12, 7, 9, 0, 30, 0, time.UTC)
	users := []string{userN(1), userN(2), userN(3), userN(4)}
	id := b.broadcastTo(users...)
	for i, u := range users {
		require.NoError(t, b.eng.NoteSent(ctx, b.tenant, u, id, fmt.Sprint(100+i), start))
	}
	reads := map[string]time.Time{users[0]: start.Add(10 * time.Second), users[1]: start.Add(5 * time.Minute),
		users[2]: start.Add(90 * time.Minute), users[3]: start.Add(100 * time.Minute)}
	for u, at := range reads {
		_, err := b.eng.Receipt(ctx, b.tenant, u, "1000", at)
		require.NoError(t, err)
	}
	// users[3]'s earlier receipt, handled late (out of order).
	_, err := b.eng.Receipt(ctx, b.tenant, users[3], "500", start.Add(2*time.Minute))
	require.NoError(t, err)
	_, err = b.eng.Act(ctx, id, b.tenant, users[0], engage.Action{ActivityID: "i1", Verb: "broadcast.ack", At: start.Add(3 * time.Minute)}, true)
	require.NoError(t, err)

	s, err := b.eng.Series(ctx, id, start)
	require.NoError(t, err)
	minute := func(d time.Duration) time.Time { return start.Add(d).Truncate(time.Minute) }
	require.Equal(t, []engage.Point{
		{At: minute(0), Read: 1}, {At: minute(2 * time.Minute), Read: 1}, {At: minute(3 * time.Minute), Acknowledged: 1},
		{At: minute(5 * time.Minute), Read: 1},
	}, s.Minutes)
	require.Equal(t, []engage.Point{{At: start.Add(90 * time.Minute).Truncate(time.Hour), Read: 1}}, s.Hours)
	c, err := b.eng.Counts(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 4, c.Read)
	require.EqualValues(t, 1, c.Acknowledged)
	require.EqualValues(t, 4, c.ReceiptsOn)
}

// Engagement of a user the broadcast did not reach is refused.
func TestOnlyRecipientsEngage(t *testing.T) {
	t.Parallel()
	b, ctx := setup(t), context.Background()
	id := b.broadcastTo(userN(1))
	_, err := b.eng.React(ctx, id, userN(2), true, []string{"like"})
	require.ErrorIs(t, err, engage.ErrNotRecipient)
	_, err = b.eng.Act(ctx, id, b.tenant, userN(2), engage.Action{Verb: "x", At: time.Now()}, true)
	require.ErrorIs(t, err, engage.ErrNotRecipient)
	_, err = b.eng.Act(ctx, id, uuid.NewString(), userN(1), engage.Action{Verb: "x", At: time.Now()}, true)
	require.ErrorIs(t, err, engage.ErrNotRecipient, "another tenant's user")
	_, err = b.eng.Reply(ctx, id, userN(2), "m1", "hi", time.Now())
	require.ErrorIs(t, err, engage.ErrNotRecipient)
	c, err := b.eng.Counts(ctx, id)
	require.NoError(t, err)
	require.Equal(t, engage.Counts{}, c)
}
