package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// settle claims user and records its outcome, as the sender does.
func settle(t *testing.T, s *Store, id, user string, to broadcast.State, reason broadcast.Reason) {
	t.Helper()
	ctx := context.Background()
	_, err := s.Transition(ctx, id, user, Change{From: []broadcast.State{broadcast.StatePending}, To: broadcast.StateSending, Owner: "o", Lease: time.Minute})
	require.NoError(t, err)
	res, err := s.Transition(ctx, id, user, Change{From: []broadcast.State{broadcast.StateSending}, To: to, Reason: reason})
	require.NoError(t, err)
	require.True(t, res.Applied)
}

func TestUnreachableReport(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	users := []string{userN(1), userN(2), userN(3), userN(4)}
	b1 := newBroadcast(t, s, users...)
	tenant := b1.TenantID
	add := func(b *broadcast.Broadcast) {
		var rs []NewRecipient
		for _, u := range users {
			rs = append(rs, NewRecipient{UserID: u, State: broadcast.StatePending, ConversationID: "c-" + u})
		}
		_, err := s.AddRecipients(ctx, b.ID, rs)
		require.NoError(t, err)
	}
	add(b1)
	require.NoError(t, s.PutProfiles(ctx, tenant, []broadcast.Profile{{ID: userN(1), DisplayName: "Ada Lovelace", UserPrincipalName: "ada@contoso.com"}}))

	settle(t, s, b1.ID, userN(1), broadcast.StateBlocked, broadcast.ReasonBlockedByUser)
	settle(t, s, b1.ID, userN(2), broadcast.StateFailed, broadcast.ReasonNotInstalled)
	settle(t, s, b1.ID, userN(3), broadcast.StateFailed, broadcast.ReasonRetriesExhausted) // may pass: not unreachable
	settle(t, s, b1.ID, userN(4), broadcast.StateBlocked, broadcast.ReasonBotDisabled)
	// A retried record of the same outcome (its first report write lost) counts once.
	res, err := s.Transition(ctx, b1.ID, userN(1), Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateBlocked, Reason: broadcast.ReasonBlockedByUser})
	require.NoError(t, err)
	require.False(t, res.Applied)

	got, next, err := s.UnreachableUsers(ctx, tenant, "", 10)
	require.NoError(t, err)
	require.Empty(t, next)
	byUser := map[string]broadcast.UnreachableUser{}
	for _, u := range got {
		byUser[u.UserID] = u
	}
	require.Len(t, byUser, 3)
	require.Equal(t, broadcast.UnreachableUser{UserID: userN(1), UserPrincipalName: "ada@contoso.com", DisplayName: "Ada Lovelace",
		Reason: broadcast.ReasonBlockedByUser, BroadcastID: b1.ID, At: byUser[userN(1)].At, Times: 1}, byUser[userN(1)])
	require.WithinDuration(t, time.Now(), byUser[userN(1)].At, time.Minute)
	require.Equal(t, broadcast.ReasonNotInstalled, byUser[userN(2)].Reason)
	require.Equal(t, broadcast.ReasonBotDisabled, byUser[userN(4)].Reason)

	// A second broadcast: user 1 still blocked, user 2 reached again.
	b2 := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: tenant, Message: broadcast.Message{Text: "again"},
		Audience: broadcast.Audience{UserIDs: users}, CreatedAt: time.Now().UTC()}
	require.NoError(t, s.CreateBroadcast(ctx, b2, []byte(`{}`)))
	add(b2)
	time.Sleep(2 * time.Millisecond) // the second outcomes are a later millisecond than the first
	settle(t, s, b2.ID, userN(1), broadcast.StateBlocked, broadcast.ReasonBlockedByUser)
	settle(t, s, b2.ID, userN(2), broadcast.StateSent, "")

	// Newest first, one a page.
	var pages []broadcast.UnreachableUser
	cursor := ""
	for {
		got, next, err := s.UnreachableUsers(ctx, tenant, cursor, 1)
		require.NoError(t, err)
		pages = append(pages, got...)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, pages, 2)
	require.Equal(t, userN(1), pages[0].UserID)
	require.Equal(t, 2, pages[0].Times)
	require.Equal(t, b2.ID, pages[0].BroadcastID)
	require.Equal(t, userN(4), pages[1].UserID)

	_, _, err = s.UnreachableUsers(ctx, tenant, "x", 1)
	require.ErrorIs(t, err, ErrBadCursor)
}
