package broadcast

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A create's reminders are checked field by field: the delay's form and
// bounds, whom they go to, how many.
func TestCreateRemindersAreValidated(t *testing.T) {
	t.Parallel()
	create := func(reminders string) string {
		return `{"message":{"text":"a"},"audience":{"allUsers":true},"reminders":` + reminders + `}`
	}
	cases := []struct {
		name, reminders, field, problem string
	}{
		{"no after", `[{"to":"unread"}]`, "reminders[0].after", "required"},
		{"not a duration", `[{"after":"tomorrow","to":"unread"}]`, "reminders[0].after", "must be a duration"},
		{"too soon", `[{"after":"30s","to":"unread"}]`, "reminders[0].after", "too soon"},
		{"too late", `[{"after":"31d","to":"unread"}]`, "reminders[0].after", "too late"},
		{"negative", `[{"after":"24h","to":"unread"},{"after":"-2h","to":"unread"}]`, "reminders[1].after", "too soon"},
		{"no to", `[{"after":"24h"}]`, "reminders[0].to", "required"},
		{"unknown to", `[{"after":"24h","to":"everyone"}]`, "reminders[0].to", `must be "unacknowledged" or "unread"`},
		{"too many", `[{"after":"1h","to":"unread"},{"after":"2h","to":"unread"},{"after":"3h","to":"unread"},{"after":"4h","to":"unread"}]`, "reminders", "4 reminders, at most 3"},
		{"unknown field", `[{"after":"1h","to":"unread","at":"9:00"}]`, "reminders[0].at", "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCreateRequest(strings.NewReader(create(c.reminders)))
			var verr *ValidationError
			require.ErrorAs(t, err, &verr, "a validation error, got %v", err)
			require.Len(t, verr.Problems, 1, "%v", err)
			require.Equal(t, c.field, verr.Problems[0].Field, "%v", err)
			require.Contains(t, verr.Problems[0].Problem, c.problem)
		})
	}
	req, err := DecodeCreateRequest(strings.NewReader(create(`[{"after":" 2d ","to":"unread"},{"after":"90m","to":"unacknowledged"}]`)))
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, req.Reminders[0].Delay())
	require.Equal(t, "2d", req.Reminders[0].After)
	require.Equal(t, 90*time.Minute, req.Reminders[1].Delay())
}

func TestRemindRequestIsValidated(t *testing.T) {
	t.Parallel()
	req, err := DecodeRemindRequest(strings.NewReader(`{"to":"unread"}`))
	require.NoError(t, err)
	require.Equal(t, RemindUnread, req.To)
	require.Nil(t, req.Message)
	for body, field := range map[string]string{
		`{}`:                                    "to",
		`{"to":"all"}`:                          "to",
		`{"to":"unread","message":{}}`:          "message",
		`{"to":"unread","message":{"x":1}}`:     "message.x",
		`{"to":"unread","message":{"text":""}}`: "message",
	} {
		_, err := DecodeRemindRequest(strings.NewReader(body))
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, body)
		require.Equal(t, field, verr.Problems[0].Field, body)
	}
}

func TestRemindable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		b    Broadcast
		code string
	}{
		{Broadcast{Kind: KindBroadcast, Status: StatusCompleted}, ""},
		{Broadcast{Kind: KindReminder, Status: StatusSending}, ""},
		{Broadcast{Kind: KindBroadcast, Status: StatusCanceled}, ""},
		{Broadcast{Kind: KindPreview, Status: StatusCompleted}, "not_remindable"},
		{Broadcast{Kind: KindBroadcast, Status: StatusScheduled}, "not_started"},
		{Broadcast{Kind: KindBroadcast, Status: StatusPendingApproval}, "not_started"},
		{Broadcast{Kind: KindBroadcast, Status: StatusCompleted, Recall: &ChangeProgress{}}, "recalled"},
	} {
		err := Remindable(&c.b)
		if c.code == "" {
			require.NoError(t, err)
			continue
		}
		var conflict *ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, c.code, conflict.Code)
	}
}
