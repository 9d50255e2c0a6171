package api_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func getJSON(t *testing.T, h http.Handler, path string, out any) {
	t.Helper()
	rec, _ := do(t, h, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), out))
}

func listed(t *testing.T, h http.Handler, id, filter string) []string {
	t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		var page api.RecipientsPage
		getJSON(t, h, "/v1/broadcasts/"+id+"/recipients?limit=1&engagement="+filter+"&cursor="+cursor, &page)
		for _, r := range page.Recipients {
			out = append(out, r.UserID)
		}
		if page.NextCursor == "" {
			sort.Strings(out)
			return out
		}
		cursor = page.NextCursor
	}
}

// End to end: a broadcast sent through the pipeline, engagement posted to
// the bot endpoint as Teams does, read through the API.
func TestEngagementThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 4, InstalledFraction: 1}, BotEndpoint: true})
	users := e.Users()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = `"` + u.ID + `"`
	}
	b := createJSON(t, e.API, `{"message":{"template":{"title":"New travel policy","acknowledge":{"title":"Got it"}}},`+
		`"audience":{"userIds":[`+strings.Join(ids, ",")+`]}}`)
	e.WaitCompleted(b.ID, 2*time.Minute)

	var page api.RecipientsPage
	getJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recipients?state=sent", &page)
	require.Len(t, page.Recipients, 4)
	act := map[string]string{}
	var all []string
	for _, r := range page.Recipients {
		act[r.UserID] = r.ActivityID
		all = append(all, r.UserID)
	}
	sort.Strings(all)
	reader, acker, both, none := all[0], all[1], all[2], all[3]

	// Reads: a receipt at each reader's message; the same one twice.
	for _, u := range []string{reader, both, reader} {
		status, _ := e.PostActivity(u, map[string]any{"type": "event", "id": "r-" + u,
			"name": "application/vnd.microsoft.readReceipt", "value": map[string]any{"lastReadMessageId": act[u]}})
		require.Equal(t, http.StatusOK, status)
	}
	// acker's receipts are on, but below its message: known unread. none
	// sent no receipt: unknown, neither read nor unread.
	status, _ := e.PostActivity(acker, map[string]any{"type": "event", "id": "r-old",
		"name": "application/vnd.microsoft.readReceipt", "value": map[string]any{"lastReadMessageId": "0"}})
	require.Equal(t, http.StatusOK, status)
	// Acknowledgements, answered with the refreshed card.
	for _, u := range []string{acker, both} {
		status, body := e.PostActivity(u, map[string]any{"type": "invoke", "id": "i-" + u, "name": "adaptiveCard/action",
			"replyToId": act[u], "value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "broadcast.ack",
				"data": map[string]any{"broadcastId": b.ID}}}})
		require.Equal(t, http.StatusOK, status)
		var r bot.InvokeResponse
		require.NoError(t, json.Unmarshal(body, &r), string(body))
		require.Equal(t, 200, r.StatusCode)
		require.Equal(t, bot.InvokeCard, r.Type, string(body))
	}
	// A reaction and a reply.
	status, _ = e.PostActivity(none, map[string]any{"type": "messageReaction", "id": "x-1", "replyToId": act[none],
		"reactionsAdded": []map[string]any{{"type": "like"}}})
	require.Equal(t, http.StatusOK, status)
	status, _ = e.PostActivity(none, map[string]any{"type": "message", "id": "m-1", "text": "Where is the form?"})
	require.Equal(t, http.StatusOK, status)

	// The status shows the counters beside the delivery's.
	var st api.BroadcastStatus
	getJSON(t, e.API, "/v1/broadcasts/"+b.ID, &st)
	require.EqualValues(t, 4, st.Counts.Sent)
	require.EqualValues(t, 2, st.Engagement.Read)
	require.EqualValues(t, 2, st.Engagement.Acknowledged)
	require.EqualValues(t, 1, st.Engagement.Reacted)
	require.EqualValues(t, 1, st.Engagement.Replied)
	require.EqualValues(t, 3, st.Engagement.ReceiptsOn)
	require.Equal(t, map[string]int64{"like": 1}, st.Engagement.Reactions)

	var rep api.EngagementReport
	getJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/engagement?breakdown=department", &rep)
	require.EqualValues(t, 4, rep.Delivered)
	require.Equal(t, st.Engagement, rep.Counts)
	var reads, acks, delivered int64
	for _, p := range append(rep.Series.Minutes, rep.Series.Hours...) {
		reads, acks = reads+p.Read, acks+p.Acknowledged
	}
	require.EqualValues(t, 2, reads)
	require.EqualValues(t, 2, acks)
	var outcomes broadcast.Counts
	for _, p := range append(rep.Deliveries.Minutes, rep.Deliveries.Hours...) {
		outcomes.Sent, outcomes.Blocked, outcomes.Failed = outcomes.Sent+p.Sent, outcomes.Blocked+p.Blocked, outcomes.Failed+p.Failed
	}
	require.Equal(t, st.Counts.Sent, outcomes.Sent, "the series of outcomes sums to the counters")
	require.Equal(t, st.Counts.Blocked, outcomes.Blocked)
	require.Equal(t, st.Counts.Failed, outcomes.Failed)
	require.NotEmpty(t, rep.Departments)
	reads, acks = 0, 0
	for _, d := range rep.Departments {
		delivered, reads, acks = delivered+d.Delivered, reads+d.Read, acks+d.Acknowledged
	}
	require.EqualValues(t, 4, delivered)
	require.EqualValues(t, 2, reads)
	require.EqualValues(t, 2, acks)

	// The recipients, filtered.
	require.Equal(t, sorted(reader, both), listed(t, e.API, b.ID, "read"))
	require.Equal(t, []string{acker}, listed(t, e.API, b.ID, "unread"), "none's receipts are off: unknown")
	require.Equal(t, sorted(acker, both), listed(t, e.API, b.ID, "acknowledged"))
	require.Equal(t, sorted(reader, none), listed(t, e.API, b.ID, "unacknowledged"))
	rec, eb := do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?engagement=seen", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "engagement", eb.Error.Fields[0].Field)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?engagement=read&state=failed", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/engagement?breakdown=team", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)

	// The replies.
	var replies api.RepliesPage
	getJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/replies", &replies)
	require.Len(t, replies.Replies, 1)
	require.Equal(t, none, replies.Replies[0].UserID)
	require.Equal(t, "Where is the form?", replies.Replies[0].Text)

	// The export's engagement columns.
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/export", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, api.ExportColumns, rows[0])
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, row := range rows[1:] {
		u := row[col["userId"]]
		require.Equal(t, u == reader || u == both, row[col["readAt"]] != "", "readAt of %s", u)
		require.Equal(t, u == acker || u == both, row[col["acknowledgedAt"]] != "", "acknowledgedAt of %s", u)
		want := ""
		if u == none {
			want = "like"
		}
		require.Equal(t, want, row[col["reactions"]], fmt.Sprintf("reactions of %s", u))
	}
	require.Equal(t, broadcast.StatusCompleted, st.Status)
}

func sorted(ss ...string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}
