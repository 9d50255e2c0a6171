package teams_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Update and Delete answers, through the real client against a fake
// Connector, classified as the edit and the recall act on them.
func TestChangeStatusTable(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   teams.Outcome
		check  func(t *testing.T, e *teams.Error)
	}{
		{name: "200 updated", status: 200, body: `{"id":"1"}`, want: teams.OK},
		{name: "404 ConversationNotFound", status: 404, body: `{"error":{"code":"ConversationNotFound","message":"gone"}}`, want: teams.ConversationGone},
		{name: "404 message gone", status: 404, body: `{"error":{"code":"NotFound","message":"no such activity"}}`, want: teams.ConversationGone},
		{name: "404 no body", status: 404, want: teams.ConversationGone},
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "2"}, body: `{"error":{"code":"Throttled"}}`, want: teams.Throttled,
			check: func(t *testing.T, e *teams.Error) { require.Equal(t, 2*time.Second, e.RetryAfter) }},
		{name: "412", status: 412, body: `{"error":{"code":"PreconditionFailed"}}`, want: teams.Retry},
		{name: "502", status: 502, want: teams.Retry},
		{name: "503", status: 503, want: teams.Retry},
		{name: "504", status: 504, want: teams.Retry},
		{name: "403 blocked", status: 403, body: `{"error":{"code":"ConversationBlockedByUser"}}`, want: teams.Blocked},
		{name: "403 209", status: 403, body: `{"errorCode":209,"message":"{\"subCode\": \"MessageWritesBlocked\"}"}`, want: teams.Blocked},
		{name: "403 BotDisabledByAdmin", status: 403, body: `{"error":{"code":"BotDisabledByAdmin"}}`, want: teams.Disabled},
		{name: "403 BotNotInConversationRoster", status: 403, body: `{"error":{"code":"BotNotInConversationRoster"}}`, want: teams.ConversationGone},
		{name: "400 BadArgument", status: 400, body: `{"error":{"code":"BadArgument"}}`, want: teams.BadMessage},
		{name: "500", status: 500, body: `{"error":{"code":"ServiceError"}}`, want: teams.Failed},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &connector{status: row.status, header: row.header, body: row.body}, "/teams/")
			for _, call := range []func() error{
				func() error { return b.client.Update(context.Background(), conv, "1692206589131", activity) },
				func() error { return b.client.Delete(context.Background(), conv, "1692206589131") },
			} {
				err := call()
				require.Equal(t, row.want, teams.ClassifyChange(err), "%v", err)
				if row.check != nil {
					var e *teams.Error
					require.ErrorAs(t, err, &e)
					row.check(t, e)
				}
			}
			reqs := b.conn.Requests()
			require.Len(t, reqs, 2)
			require.Equal(t, http.MethodPut, reqs[0].Method)
			require.Equal(t, string(activity), string(reqs[0].Body))
			require.Equal(t, http.MethodDelete, reqs[1].Method)
			require.Empty(t, reqs[1].Body)
		})
	}
}
