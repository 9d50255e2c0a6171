package broadcast

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const user1 = "11111111-1111-1111-1111-111111111111"

func TestDecodeCreateRequestRejects(t *testing.T) {
	t.Parallel()
	big := `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", MaxCardBytes) + `"}]}`
	cases := []struct {
		name, body, field, problem string
	}{
		{"empty body", ``, "body", "empty"},
		{"malformed JSON", `{"message":`, "body", "malformed JSON"},
		{"syntax error", `{"message":{"text":"hi"},}`, "body", "malformed JSON at byte"},
		{"trailing data", `{"message":{"text":"hi"},"audience":{"allUsers":true}} {}`, "body", "unexpected data"},
		{"unknown field", `{"message":{"text":"hi"},"audience":{"allUsers":true},"prio":"high"}`, "prio", "unknown field"},
		{"unknown priority", `{"message":{"text":"hi"},"audience":{"allUsers":true},"priority":"high"}`, "priority", `must be "urgent" or "normal", got "high"`},
		{"unknown nested field", `{"message":{"txt":"hi"},"audience":{"allUsers":true}}`, "message.txt", "unknown field"},
		{"missing message", `{"audience":{"allUsers":true}}`, "message", "required"},
		{"blank text", `{"message":{"text":"   "},"audience":{"allUsers":true}}`, "message.text", "white space"},
		{"wrong type", `{"message":{"text":5},"audience":{"allUsers":true}}`, "message.text", "must be a string"},
		{"missing audience", `{"message":{"text":"hi"}}`, "audience", "required"},
		{"empty audience", `{"message":{"text":"hi"},"audience":{"userIds":[]}}`, "audience.userIds", "empty"},
		{"bad upn", `{"message":{"text":"hi"},"audience":{"upns":["ada"]}}`, "audience.upns[0]", "user principal name"},
		{"upn with space", `{"message":{"text":"hi"},"audience":{"upns":["ada lovelace@contoso.com"]}}`, "audience.upns[0]", "user principal name"},
		{"empty upns", `{"message":{"text":"hi"},"audience":{"upns":[]}}`, "audience.upns", "empty"},
		{"bad group", `{"message":{"text":"hi"},"audience":{"groupIds":["sales"]}}`, "audience.groupIds[0]", "group object id"},
		{"guests alone", `{"message":{"text":"hi"},"audience":{"userIds":["` + user1 + `"],"includeGuests":true}}`, "audience.includeGuests", "allUsers and groupIds only"},
		{"bad exclusion", `{"message":{"text":"hi"},"audience":{"allUsers":true,"exclude":{"userIds":["bob"]}}}`, "audience.exclude.userIds[0]", "GUID"},
		{"unknown exclusion", `{"message":{"text":"hi"},"audience":{"allUsers":true,"exclude":{"emails":[]}}}`, "audience.exclude.emails", "unknown field"},
		{"exclusion only", `{"message":{"text":"hi"},"audience":{"exclude":{"userIds":["` + user1 + `"]}}}`, "audience", "required"},
		{"bad user id", `{"message":{"text":"hi"},"audience":{"userIds":["bob@contoso.com"]}}`, "audience.userIds[0]", "GUID"},
		{"bad tenant", `{"tenantId":"contoso","message":{"text":"hi"},"audience":{"allUsers":true}}`, "tenantId", "GUID"},
		{"blank acknowledge", `{"message":{"template":{"title":"t","acknowledge":{"title":" "}}},"audience":{"allUsers":true}}`, "message.template.acknowledge.title", "required"},
		{"acknowledge over the buttons", `{"message":{"template":{"title":"t","acknowledge":{"title":"ok"},"buttons":[` +
			strings.TrimSuffix(strings.Repeat(`{"title":"b","url":"https://a.example"},`, MaxButtons), ",") + `]}},"audience":{"allUsers":true}}`,
			"message.template.acknowledge", "at most 6"},
		{"card not object", `{"message":{"card":[1]},"audience":{"allUsers":true}}`, "message.card", "JSON object"},
		{"card not UTF-8", "{\"message\":{\"card\":{\"type\":\"AdaptiveCard\",\"version\":\"1.5\",\"body\":[\"\xff\"]}},\"audience\":{\"allUsers\":true}}", "message.card.body[0]", "not valid UTF-8"},
		{"card null", `{"message":{"card":null},"audience":{"allUsers":true}}`, "message.card", "not null"},
		{"card wrong type", `{"message":{"card":{"type":"HeroCard","version":"1.5","body":[]}},"audience":{"allUsers":true}}`, "message.card.type", "AdaptiveCard"},
		{"card no version", `{"message":{"card":{"type":"AdaptiveCard","body":[]}},"audience":{"allUsers":true}}`, "message.card.version", "required"},
		{"card empty", `{"message":{"card":{"type":"AdaptiveCard","version":"1.5"}},"audience":{"allUsers":true}}`, "message.card.body", "show nothing"},
		{"card body not array", `{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":{}}},"audience":{"allUsers":true}}`, "message.card.body", "array"},
		{"oversized card", `{"message":{"card":` + big + `},"audience":{"allUsers":true}}`, "message.card", "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCreateRequest(strings.NewReader(c.body))
			require.Error(t, err)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr, "a validation error, got %v", err)
			var fields []string
			for _, p := range verr.Problems {
				fields = append(fields, p.Field)
				if p.Field == c.field {
					require.Contains(t, p.Problem, c.problem)
					return
				}
			}
			t.Fatalf("no problem reported for field %q; got %v (%v)", c.field, fields, err)
		})
	}
}

func TestDecodeCreateRequestNormalizes(t *testing.T) {
	t.Parallel()
	body := `{"tenantId":"AAAAAAAA-1111-1111-1111-111111111111","message":{"text":"Hello **all**","card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi"}]}},
	"audience":{"userIds":["` + strings.ToUpper(user1) + `","` + user1 + `","22222222-2222-2222-2222-222222222222"]}}`
	req, err := DecodeCreateRequest(strings.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, "aaaaaaaa-1111-1111-1111-111111111111", req.TenantID)
	require.Equal(t, []string{user1, "22222222-2222-2222-2222-222222222222"}, req.Audience.UserIDs, "lowercased and deduplicated in order")
	require.True(t, req.Message.Alert(), "notifications are on by default")
	require.Equal(t, PriorityNormal, req.Priority, "normal unless asked")

	req, err = DecodeCreateRequest(strings.NewReader(`{"priority":"urgent","message":{"text":"x"},"audience":{"allUsers":true}}`))
	require.NoError(t, err)
	require.Equal(t, PriorityUrgent, req.Priority)
}

func TestManyBadIDsAreSummarised(t *testing.T) {
	t.Parallel()
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = `"nope"`
	}
	_, err := DecodeCreateRequest(strings.NewReader(`{"message":{"text":"x"},"audience":{"userIds":[` + strings.Join(ids, ",") + `]}}`))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Problems, 6)
	require.Contains(t, verr.Problems[5].Problem, "15 more ids")
}

func TestDecodeJob(t *testing.T) {
	t.Parallel()
	j := Job{BroadcastID: "b1", TenantID: user1, UserID: user1, ConversationID: "19:x@unq.gbl.spaces"}
	got, err := DecodeJob(j.Marshal())
	require.NoError(t, err)
	require.Equal(t, j, got)
	require.NotEqual(t, j.MsgID(StageSend), j.MsgID(StageInstall))
	j2 := j
	j2.Reinstall = 1
	require.NotEqual(t, j.MsgID(StageInstall), j2.MsgID(StageInstall), "a reinstall is a new job")

	for _, bad := range []string{`{`, `{"b":"","t":"` + user1 + `","u":"` + user1 + `"}`, `{"b":"x","t":"t","u":"` + user1 + `"}`, `{"b":"x","t":"` + user1 + `","u":"u"}`} {
		_, err := DecodeJob([]byte(bad))
		require.ErrorIs(t, err, ErrBadJob, bad)
	}
}

func TestAudienceUnionNormalised(t *testing.T) {
	req, err := DecodeCreateRequest(strings.NewReader(`{"message":{"text":"x"},"audience":{"allUsers":true,"includeGuests":true,
		"groupIds":["` + strings.ToUpper(user1) + `","` + user1 + `"],"userIds":["` + user1 + `"],
		"upns":["Ada@Contoso.com","ada@contoso.com","x_fabrikam.example#EXT#@contoso.onmicrosoft.com"],
		"exclude":{"upns":["Bob@Contoso.com"]}}}`))
	require.NoError(t, err)
	a := req.Audience
	require.True(t, a.AllUsers)
	require.True(t, a.IncludeGuests)
	require.Equal(t, []string{user1}, a.GroupIDs)
	require.Equal(t, []string{"ada@contoso.com", "x_fabrikam.example#ext#@contoso.onmicrosoft.com"}, a.UPNs)
	require.Equal(t, Exclusion{UPNs: []string{"bob@contoso.com"}}, a.Exclude)
}
