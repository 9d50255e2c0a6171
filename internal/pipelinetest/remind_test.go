package pipelinetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// movableClock is the dispatchers' clock, moved ahead by a test to make
// reminders due without waiting for them.
type movableClock struct{ ahead atomic.Int64 }

func (c *movableClock) now() time.Time        { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *movableClock) move(by time.Duration) { c.ahead.Add(int64(by)) }

// runSecondDispatcher runs another dispatcher beside the Env's, as a
// second process would, until the test ends.
func runSecondDispatcher(t *testing.T, e *pipelinetest.Env) {
	d := e.NewDispatcher()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func getStatus(t *testing.T, e *pipelinetest.Env, id string) api.BroadcastStatus {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/v1/broadcasts/"+id, nil)
	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var st api.BroadcastStatus
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	return st
}

// waitReminder waits for the create's i-th reminder of id to be settled.
func waitReminder(t *testing.T, e *pipelinetest.Env, id string, i int) broadcast.ScheduledReminder {
	t.Helper()
	var r broadcast.ScheduledReminder
	require.Eventually(t, func() bool {
		r = getStatus(t, e, id).Reminders[i]
		return r.Status != broadcast.ReminderWaiting
	}, time.Minute, 50*time.Millisecond)
	return r
}

// stillScheduled reports whether a reminder of id waits to be sent.
func stillScheduled(t *testing.T, e *pipelinetest.Env, id string) bool {
	due, err := e.Store.DueReminders(context.Background(), time.Now().Add(10_000*time.Hour), 10_000)
	require.NoError(t, err)
	for _, r := range due {
		if r.BroadcastID == id {
			return true
		}
	}
	return false
}

// A create's reminder is sent once its broadcast completed and its delay
// passed, to exactly the recipients who did not acknowledge, once though
// two dispatchers look for it.
func TestScheduledReminderFiresOnceWithTwoDispatchers(t *testing.T) {
	t.Parallel()
	clock := &movableClock{}
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}, BotEndpoint: true, Now: clock.now})
	runSecondDispatcher(t, e)
	users := e.Users()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = `"` + u.ID + `"`
	}
	code, body := postJSON(t, e.API, "/v1/broadcasts", `{"message":{"template":{"title":"Sign the policy","acknowledge":{"title":"Signed"}}},`+
		`"audience":{"userIds":[`+strings.Join(ids, ",")+`]},"reminders":[{"after":"1m","to":"unacknowledged"}]}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	orig := decodeBroadcast(t, body)
	require.Len(t, orig.Reminders, 1)
	spec := orig.Reminders[0]
	require.Equal(t, broadcast.ReminderWaiting, spec.Status)
	require.NotEmpty(t, spec.ID)
	e.WaitCompleted(orig.ID, 2*time.Minute)

	// users[0] acknowledges; the others do not.
	recs, _, err := e.Store.Recipients(context.Background(), orig.ID, broadcast.StateSent, "", 10)
	require.NoError(t, err)
	acker := ""
	for _, r := range recs {
		if r.UserID == users[0].ID {
			acker = r.UserID
			status, body := e.PostActivity(r.UserID, map[string]any{"type": "invoke", "id": "i-1", "name": "adaptiveCard/action",
				"replyToId": r.ActivityID, "value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "broadcast.ack",
					"data": map[string]any{"broadcastId": orig.ID}}}})
			require.Equal(t, http.StatusOK, status, string(body))
		}
	}
	require.NotEmpty(t, acker)
	// Not due before its delay from the completion has passed.
	require.Equal(t, broadcast.ReminderWaiting, getStatus(t, e, orig.ID).Reminders[0].Status)
	require.True(t, stillScheduled(t, e, orig.ID))

	clock.move(2 * time.Minute)
	got := waitReminder(t, e, orig.ID, 0)
	require.Equal(t, broadcast.ReminderSent, got.Status)
	require.Equal(t, spec.ID, got.ID)
	rem := e.WaitCompleted(spec.ID, 2*time.Minute)
	require.Equal(t, broadcast.KindReminder, rem.Kind)
	require.Equal(t, orig.ID, rem.ReminderOf)
	require.NotNil(t, rem.Reminder.Scheduled)
	require.Equal(t, 0, *rem.Reminder.Scheduled)
	require.EqualValues(t, 2, rem.Counts.Sent)
	require.EqualValues(t, 1, rem.Reminder.Acknowledged)

	// Once: one reminder linked, nothing left to send, and Teams got the
	// original and one reminder per unacknowledged user.
	require.Equal(t, []string{spec.ID}, getStatus(t, e, orig.ID).RemindedBy)
	require.False(t, stillScheduled(t, e, orig.ID))
	for _, u := range users {
		want := 2
		if u.ID == acker {
			want = 1
		}
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), want, "messages of %s", u.ID)
	}
}

// A create's reminder of a broadcast canceled before it completed is
// skipped, with the reason recorded, and never sent.
func TestScheduledReminderOfCanceledBroadcastIsSkipped(t *testing.T) {
	t.Parallel()
	clock := &movableClock{}
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, Now: clock.now})
	code, body := postJSON(t, e.API, "/v1/broadcasts", `{"message":{"text":"Town hall"},"audience":{"allUsers":true},`+
		`"sendAt":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","reminders":[{"after":"1m","to":"unread"},{"after":"2d","to":"unread"}]}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	orig := decodeBroadcast(t, body)
	code, body = postJSON(t, e.API, "/v1/broadcasts/"+orig.ID+"/cancel", "")
	require.Equal(t, http.StatusOK, code, string(body))

	clock.move(3 * 24 * time.Hour)
	for i := range 2 {
		got := waitReminder(t, e, orig.ID, i)
		require.Equal(t, broadcast.ReminderSkipped, got.Status)
		require.Equal(t, "the broadcast was canceled", got.Reason)
	}
	require.False(t, stillScheduled(t, e, orig.ID))
	require.Empty(t, getStatus(t, e, orig.ID).RemindedBy)
	_, err := e.Store.Broadcast(context.Background(), orig.Reminders[0].ID)
	require.Error(t, err, "no reminder was made")
}

// A reminder with a message of its own is a new message: the approval
// policy holds it back as a create; one with the approved message is not.
func TestReminderWithItsOwnMessageWaitsForApproval(t *testing.T) {
	t.Parallel()
	a := startApprovals(t, "always", 4)
	e := a.e
	code, body := a.call(t, a.author, http.MethodPost, "/v1/broadcasts",
		`{"message":{"template":{"title":"Sign","acknowledge":{"title":"Signed"}}},"audience":{"userIds":["`+a.others[0].ID+`"]}}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	orig := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusPendingApproval, orig.Status)
	code, body = a.call(t, a.approver, http.MethodPost, "/v1/broadcasts/"+orig.ID+"/approve", "")
	require.Equal(t, http.StatusOK, code, string(body))
	e.WaitCompleted(orig.ID, 2*time.Minute)

	code, body = a.call(t, a.author, http.MethodPost, "/v1/broadcasts/"+orig.ID+"/remind", `{"to":"unacknowledged","message":{"text":"Anything I like"}}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	own := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusPendingApproval, own.Status)
	require.Equal(t, "always", own.Approval.Rule)
	code, body = a.call(t, a.author, http.MethodPost, "/v1/broadcasts/"+orig.ID+"/remind", `{"to":"unacknowledged"}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	same := decodeBroadcast(t, body)
	require.Nil(t, same.Approval)
	e.WaitCompleted(same.ID, 2*time.Minute)
	untouched(t, e, own.ID, broadcast.StatusPendingApproval)
}
