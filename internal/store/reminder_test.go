package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func dueOf(t *testing.T, s *Store, id string, at time.Time) []int {
	t.Helper()
	due, err := s.DueReminders(context.Background(), at, 10_000)
	require.NoError(t, err)
	var out []int
	for _, r := range due {
		if r.BroadcastID == id {
			out = append(out, r.Index)
		}
	}
	slices.Sort(out)
	return out
}

// A create's reminders wait in broadcasts:reminders from creation + their
// delay; a reminder's create links it to its original; a settle is kept
// once and ends the wait.
func TestRemindersAreScheduledLinkedAndSettledOnce(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	created := time.Now().UTC().Truncate(time.Millisecond)
	orig := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: testenv.FreeTenant(t), Message: broadcast.Message{Text: "sign"},
		Audience: broadcast.Audience{AllUsers: true}, Status: broadcast.StatusExpanding, CreatedAt: created,
		Reminders: []broadcast.ScheduledReminder{
			{ReminderSpec: broadcast.ReminderSpec{After: "1h", To: broadcast.RemindUnread}, ID: uuid.NewString()},
			{ReminderSpec: broadcast.ReminderSpec{After: "2d", To: broadcast.RemindUnacknowledged}, ID: uuid.NewString()},
		}}
	require.NoError(t, s.CreateBroadcast(ctx, orig, []byte(`{"type":"message","text":"sign"}`)))
	require.Empty(t, dueOf(t, s, orig.ID, created.Add(59*time.Minute)))
	require.Equal(t, []int{0}, dueOf(t, s, orig.ID, created.Add(time.Hour)))
	require.Equal(t, []int{0, 1}, dueOf(t, s, orig.ID, created.Add(48*time.Hour)))

	require.NoError(t, s.PostponeReminder(ctx, DueReminder{BroadcastID: orig.ID, Index: 0}, created.Add(3*time.Hour)))
	require.Empty(t, dueOf(t, s, orig.ID, created.Add(2*time.Hour)))

	rem := &broadcast.Broadcast{ID: orig.Reminders[0].ID, TenantID: orig.TenantID, Message: broadcast.Message{Text: "Reminder: sign"},
		Audience: broadcast.Audience{UserIDs: []string{userN(1)}}, Status: broadcast.StatusExpanding, CreatedAt: created,
		Kind: broadcast.KindReminder, ReminderOf: orig.ID,
		Reminder: &broadcast.Reminder{To: broadcast.RemindUnread, Delivered: 3, Recipients: 1, Read: 1, ReceiptsUnknown: 1}}
	require.NoError(t, s.CreateBroadcast(ctx, rem, []byte(`{"type":"message","text":"Reminder: sign"}`)))
	require.NoError(t, s.CreateBroadcast(ctx, rem, []byte(`{"type":"message","text":"Reminder: sign"}`)), "a second write of the id is a no-op")

	r0 := DueReminder{BroadcastID: orig.ID, Index: 0}
	at := created.Add(3 * time.Hour)
	first, err := s.SettleReminder(ctx, r0, broadcast.ReminderSent, "", at)
	require.NoError(t, err)
	require.True(t, first)
	again, err := s.SettleReminder(ctx, r0, broadcast.ReminderSkipped, "late", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, again, "the first settle stays")
	_, err = s.SettleReminder(ctx, DueReminder{BroadcastID: orig.ID, Index: 1}, broadcast.ReminderSkipped, "the broadcast was canceled", at)
	require.NoError(t, err)
	require.Empty(t, dueOf(t, s, orig.ID, created.Add(1000*time.Hour)))

	got, err := s.Broadcast(ctx, orig.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rem.ID}, got.RemindedBy, "linked once")
	require.Len(t, got.Reminders, 2)
	require.Equal(t, broadcast.ReminderSent, got.Reminders[0].Status)
	require.Equal(t, at, *got.Reminders[0].At)
	require.Equal(t, broadcast.ReminderSkipped, got.Reminders[1].Status)
	require.Equal(t, "the broadcast was canceled", got.Reminders[1].Reason)
	require.Equal(t, "2d", got.Reminders[1].After)

	gotRem, err := s.Broadcast(ctx, rem.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.KindReminder, gotRem.Kind)
	require.Equal(t, orig.ID, gotRem.ReminderOf)
	require.Equal(t, rem.Reminder, gotRem.Reminder)
	of, err := s.ReminderOf(ctx, rem.ID)
	require.NoError(t, err)
	require.Equal(t, orig.ID, of)
	of, err = s.ReminderOf(ctx, orig.ID)
	require.NoError(t, err)
	require.Empty(t, of)

	// A settle of a broadcast no longer kept writes no record of it.
	gone := DueReminder{BroadcastID: uuid.NewString(), Index: 0}
	n, err := s.SettleReminder(ctx, gone, broadcast.ReminderSkipped, "gone", at)
	require.NoError(t, err)
	require.False(t, n)
	_, err = s.Broadcast(ctx, gone.BroadcastID)
	require.ErrorIs(t, err, ErrNotFound)
}
