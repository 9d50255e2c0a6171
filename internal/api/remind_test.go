package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// remind posts a remind request, with an Idempotency-Key when key is set.
func remind(t *testing.T, h http.Handler, id, body, key string) (*httptest.ResponseRecorder, errorBody) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts/"+id+"/remind", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(broadcast.IdempotencyHeader, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var eb errorBody
	if rec.Code >= 400 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb), rec.Body.String())
	}
	return rec, eb
}

func reminded(t *testing.T, h http.Handler, id, body string) broadcast.Broadcast {
	t.Helper()
	rec, _ := remind(t, h, id, body, "")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
	require.Equal(t, broadcast.KindReminder, b.Kind)
	require.Equal(t, "/v1/broadcasts/"+b.ID, rec.Header().Get("Location"))
	return b
}

// sentTo lists the users a broadcast was delivered to, and their
// messages' activity ids.
func sentTo(t *testing.T, h http.Handler, id string) ([]string, map[string]string) {
	t.Helper()
	var page api.RecipientsPage
	getJSON(t, h, "/v1/broadcasts/"+id+"/recipients?state=sent&limit=1000", &page)
	act := map[string]string{}
	var users []string
	for _, r := range page.Recipients {
		users = append(users, r.UserID)
		act[r.UserID] = r.ActivityID
	}
	sort.Strings(users)
	return users, act
}

func ack(t *testing.T, e *pipelinetest.Env, user, activityID, broadcastID string) {
	t.Helper()
	status, body := e.PostActivity(user, map[string]any{"type": "invoke", "id": "i-" + user + "-" + activityID, "name": "adaptiveCard/action",
		"replyToId": activityID, "value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "broadcast.ack",
			"data": map[string]any{"broadcastId": broadcastID}}}})
	require.Equal(t, http.StatusOK, status, string(body))
}

func receipt(t *testing.T, e *pipelinetest.Env, user, lastRead string) {
	t.Helper()
	status, _ := e.PostActivity(user, map[string]any{"type": "event", "id": "r-" + user + "-" + lastRead,
		"name": "application/vnd.microsoft.readReceipt", "value": map[string]any{"lastReadMessageId": lastRead}})
	require.Equal(t, http.StatusOK, status)
}

// End to end through the bot endpoint: the recipients of a reminder are
// exactly the unacknowledged ones, or exactly the unread ones whose
// receipts are on; an acknowledgement pressed on a reminder counts for
// the original; the links show both ways.
func TestReminderReachesExactlyThoseWhoDidNotEngage(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 6, InstalledFraction: 1}, BotEndpoint: true})
	ids := make([]string, 0, 6)
	for _, u := range e.Users() {
		ids = append(ids, `"`+u.ID+`"`)
	}
	orig := createJSON(t, e.API, `{"message":{"template":{"title":"New travel policy","acknowledge":{"title":"Got it"}}},`+
		`"audience":{"userIds":[`+strings.Join(ids, ",")+`]}}`)
	e.WaitCompleted(orig.ID, 2*time.Minute)
	all, act := sentTo(t, e.API, orig.ID)
	require.Len(t, all, 6)
	ackedReader, acker, reader, unread, silent1, silent2 := all[0], all[1], all[2], all[3], all[4], all[5]
	for _, u := range []string{ackedReader, reader} {
		receipt(t, e, u, act[u]) // read
	}
	for _, u := range []string{acker, unread} {
		receipt(t, e, u, "0") // receipts on, not read: known unread
	}
	for _, u := range []string{ackedReader, acker} {
		ack(t, e, u, act[u], orig.ID)
	}
	// silent1 and silent2 sent nothing: their receipts are unknown.

	r1 := reminded(t, e.API, orig.ID, `{"to":"unacknowledged"}`)
	require.Equal(t, orig.ID, r1.ReminderOf)
	require.Equal(t, &broadcast.Reminder{To: broadcast.RemindUnacknowledged, Delivered: 6, Recipients: 4, Acknowledged: 2}, r1.Reminder)
	require.Equal(t, "Reminder: New travel policy", r1.Message.Template.Title)
	e.WaitCompleted(r1.ID, 2*time.Minute)
	got, ract := sentTo(t, e.API, r1.ID)
	require.Equal(t, sorted(reader, unread, silent1, silent2), got)

	r2 := reminded(t, e.API, orig.ID, `{"to":"unread","message":{"text":"Please read the travel policy"}}`)
	require.Equal(t, &broadcast.Reminder{To: broadcast.RemindUnread, Delivered: 6, Recipients: 2, Read: 2, ReceiptsUnknown: 2}, r2.Reminder)
	e.WaitCompleted(r2.ID, 2*time.Minute)
	require.Equal(t, "Please read the travel policy", r2.Message.Text)
	got, _ = sentTo(t, e.API, r2.ID)
	require.Equal(t, sorted(acker, unread), got)
	// What Teams got: the original, and each reminder once, no more.
	for u, n := range map[string]int{ackedReader: 1, acker: 2, reader: 2, unread: 3, silent1: 2, silent2: 2} {
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u), n, "messages of %s", u)
	}

	// silent1 acknowledges on the reminder: the original counts it, and a
	// reminder of the reminder (of the original) leaves silent1 out.
	ack(t, e, silent1, ract[silent1], r1.ID)
	var st api.BroadcastStatus
	getJSON(t, e.API, "/v1/broadcasts/"+orig.ID, &st)
	require.EqualValues(t, 3, st.Engagement.Acknowledged)
	require.Equal(t, []string{r1.ID, r2.ID}, st.RemindedBy)
	r3 := reminded(t, e.API, r1.ID, `{"to":"unacknowledged"}`)
	require.Equal(t, orig.ID, r3.ReminderOf)
	require.EqualValues(t, 3, r3.Reminder.Recipients)
	e.WaitCompleted(r3.ID, 2*time.Minute)
	got, _ = sentTo(t, e.API, r3.ID)
	require.Equal(t, sorted(reader, unread, silent2), got)

	// A reminder is listed, with its link, as any broadcast.
	var list api.BroadcastsPage
	getJSON(t, e.API, "/v1/broadcasts?kind=reminder&limit=10&tenantId="+e.Tenant, &list)
	kinds := map[string]broadcast.Kind{}
	for _, b := range list.Broadcasts {
		kinds[b.ID] = b.Kind
	}
	require.Len(t, kinds, 3)
	require.Equal(t, broadcast.KindReminder, kinds[r3.ID])
	getJSON(t, e.API, "/v1/broadcasts/"+r3.ID, &st)
	require.Equal(t, orig.ID, st.ReminderOf)
	require.Equal(t, broadcast.StatusCompleted, st.Status)
}

// Validation, conflicts and the Idempotency-Key of a remind.
func TestRemindRefusalsAndIdempotency(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}})
	users := e.Users()
	plain := createJSON(t, e.API, `{"message":{"text":"no button"},"audience":{"userIds":["`+users[0].ID+`","`+users[1].ID+`"]}}`)
	acked := createJSON(t, e.API, `{"message":{"template":{"title":"Sign","acknowledge":{"title":"Done"}}},"audience":{"userIds":["`+users[0].ID+`","`+users[1].ID+`"]}}`)
	e.WaitCompleted(plain.ID, 2*time.Minute)
	e.WaitCompleted(acked.ID, 2*time.Minute)

	for name, c := range map[string]struct{ body, field string }{
		"no to":        {`{}`, "to"},
		"unknown to":   {`{"to":"everyone"}`, "to"},
		"bad message":  {`{"to":"unread","message":{"text":"   "}}`, "message.text"},
		"unknown key":  {`{"to":"unread","when":"now"}`, "when"},
		"to not text":  {`{"to":3}`, "to"},
		"two messages": {`{"to":"unread","message":{"text":"a","template":{"title":"b"}}}`, "message.template"},
	} {
		rec, eb := remind(t, e.API, acked.ID, c.body, "")
		require.Equal(t, http.StatusBadRequest, rec.Code, name)
		require.Equal(t, c.field, eb.Error.Fields[0].Field, name)
	}
	rec, eb := remind(t, e.API, plain.ID, `{"to":"unacknowledged"}`, "")
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "no_acknowledge", eb.Error.Code)
	// Nobody has receipts on: nobody is known unread.
	rec, eb = remind(t, e.API, plain.ID, `{"to":"unread"}`, "")
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "nobody_to_remind", eb.Error.Code)
	require.Contains(t, eb.Error.Message, "2 have read receipts off or unknown")
	// A create's unacknowledged reminder wants the acknowledge button too.
	rec, eb = do(t, e.API, http.MethodPost, "/v1/broadcasts", "application/json",
		`{"message":{"text":"no button"},"audience":{"allUsers":true},"reminders":[{"after":"1h","to":"unacknowledged"}]}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "reminders[0].to", eb.Error.Fields[0].Field)
	rec, _ = remind(t, e.API, "0190a1b2-0000-7000-8000-000000000000", `{"to":"unread"}`, "")
	require.Equal(t, http.StatusNotFound, rec.Code)

	// The same key and body: one reminder; another body: refused.
	rec, _ = remind(t, e.API, acked.ID, `{"to":"unacknowledged"}`, "k-1")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var first broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &first))
	rec, _ = remind(t, e.API, acked.ID, `{"to":"unacknowledged"}`, "k-1")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "true", rec.Header().Get(api.ReplayedHeader))
	var again broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &again))
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, first.Reminder, again.Reminder)
	rec, eb = remind(t, e.API, acked.ID, `{"to":"unacknowledged","message":{"text":"other"}}`, "k-1")
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.Equal(t, "idempotency_key_reused", eb.Error.Code)
	var st api.BroadcastStatus
	getJSON(t, e.API, "/v1/broadcasts/"+acked.ID, &st)
	require.Equal(t, []string{first.ID}, st.RemindedBy)

	// The audit log has the call on the original and the reminder made.
	var audit api.AuditPage
	getJSON(t, e.API, "/v1/audit?limit=50", &audit)
	var actions []string
	for _, a := range audit.Entries {
		if a.BroadcastID == acked.ID || a.BroadcastID == first.ID {
			actions = append(actions, a.Action+" "+a.BroadcastID)
		}
	}
	require.Contains(t, actions, api.ActionRemind+" "+acked.ID)
	require.Contains(t, actions, api.ActionReminder+" "+first.ID)
}
