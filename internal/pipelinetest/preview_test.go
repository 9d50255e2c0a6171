package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// previewed waits for a preview to complete and checks it reached exactly
// its one user.
func previewed(t *testing.T, e *pipelinetest.Env, body []byte, user teamsim.User) broadcast.Broadcast {
	t.Helper()
	p := decodeBroadcast(t, body)
	require.Equal(t, broadcast.KindPreview, p.Kind)
	require.Equal(t, []string{user.ID}, p.Audience.UserIDs)
	require.Equal(t, broadcast.PriorityUrgent, p.Priority)
	end := e.WaitCompleted(p.ID, 3*time.Minute)
	require.Equal(t, int64(1), end.Counts.Total)
	require.Equal(t, int64(1), end.Counts.Sent, "%+v", end.Counts)
	require.Equal(t, broadcast.KindPreview, end.Kind)
	return *end
}

// A preview of a scheduled broadcast reaches the one user named (by user
// principal name, by id, through the directory cache) and nobody else, as
// a broadcast of its own; the scheduled broadcast is untouched and still
// waits for its time. A draft is previewed the same way. Unknown users
// and malformed requests are refused with the field named.
func TestPreview(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 12, InstalledFraction: 0.5, Seed: 21}})
	us := members(e)
	for _, u := range us {
		require.False(t, u.Blocked || u.Disabled, "seed 21 has no blocked user")
	}
	b := schedule(t, e, "Next week's all-hands", time.Now().Add(time.Hour))
	path := "/v1/broadcasts/" + b.ID + "/preview"

	want := map[string]int{} // user id -> deliveries
	check := func() {
		t.Helper()
		var total int64
		for _, u := range us {
			require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), want[u.ID], "user %s", u.ID)
			total += int64(want[u.ID])
		}
		require.Equal(t, total, e.Sim.Ledger().Deliveries)
		untouched(t, e, b.ID, broadcast.StatusScheduled)
		at, ok, err := e.Store.Scheduled(context.Background(), b.ID)
		require.NoError(t, err)
		require.True(t, ok, "still scheduled")
		require.True(t, at.Equal(*b.SendAt))
	}

	// By user principal name, in another case (Graph).
	code, body := postJSON(t, e.API, path, fmt.Sprintf(`{"to":%q}`, strings.ToUpper(us[3].UPN)))
	require.Equal(t, http.StatusAccepted, code, string(body))
	p := previewed(t, e, body, us[3])
	require.Equal(t, b.ID, p.PreviewOf)
	want[us[3].ID]++
	check()
	// The preview got the broadcast's activity: what recipients will get.
	act, err := e.Store.Activity(context.Background(), b.ID)
	require.NoError(t, err)
	pact, err := e.Store.Activity(context.Background(), p.ID)
	require.NoError(t, err)
	require.JSONEq(t, string(act), string(pact))

	// By id, in upper case.
	code, body = postJSON(t, e.API, path, fmt.Sprintf(`{"to":%q}`, strings.ToUpper(us[5].ID)))
	require.Equal(t, http.StatusAccepted, code, string(body))
	previewed(t, e, body, us[5])
	want[us[5].ID]++
	check()

	// A name only the directory cache knows.
	require.NoError(t, e.Store.PutProfiles(context.Background(), e.Tenant,
		[]broadcast.Profile{{ID: us[7].ID, UserPrincipalName: "alias.seven@contoso.example"}}))
	code, body = postJSON(t, e.API, path, `{"to":"Alias.Seven@contoso.example"}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	previewed(t, e, body, us[7])
	want[us[7].ID]++
	check()

	// A draft, by name.
	code, body = postJSON(t, e.API, "/v1/previews", fmt.Sprintf(`{"message":{"text":"Draft, do not forward"},"to":%q}`, us[2].UPN))
	require.Equal(t, http.StatusAccepted, code, string(body))
	d := previewed(t, e, body, us[2])
	require.Empty(t, d.PreviewOf)
	want[us[2].ID]++
	check()

	// Refusals.
	for _, c := range []struct {
		name, path, body, code, field string
		status                        int
	}{
		{"unknown name", path, `{"to":"nobody@contoso.example"}`, "unknown_user", "to", 422},
		{"unknown id", path, `{"to":"0190c6d2-0000-7000-8000-00000000beef"}`, "unknown_user", "to", 422},
		{"not a user", path, `{"to":"not a user"}`, "invalid_request", "to", 400},
		{"no one", path, `{}`, "invalid_request", "to", 400},
		{"unknown field", path, `{"to":"` + us[1].UPN + `","cc":"x"}`, "invalid_request", "cc", 400},
		{"draft without message", "/v1/previews", `{"to":"` + us[1].UPN + `"}`, "invalid_request", "message", 400},
		{"draft of an unknown tenant", "/v1/previews", `{"tenantId":"0190c6d2-0000-7000-8000-000000000001","message":{"text":"x"},"to":"` + us[1].UPN + `"}`, "invalid_request", "tenantId", 400},
		{"draft to nobody", "/v1/previews", `{"message":{"text":"x"},"to":"nobody@contoso.example"}`, "unknown_user", "to", 422},
	} {
		code, body := postJSON(t, e.API, c.path, c.body)
		require.Equal(t, c.status, code, "%s: %s", c.name, body)
		var eb struct {
			Error struct {
				Code   string                 `json:"code"`
				Fields []broadcast.FieldError `json:"fields"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &eb), c.name)
		require.Equal(t, c.code, eb.Error.Code, "%s: %s", c.name, body)
		require.NotEmpty(t, eb.Error.Fields, "%s: %s", c.name, body)
		require.Equal(t, c.field, eb.Error.Fields[0].Field, "%s: %s", c.name, body)
	}
	code, body = postJSON(t, e.API, "/v1/broadcasts/0190c6d2-0000-7000-8000-000000000000/preview", `{"to":"`+us[1].UPN+`"}`)
	require.Equal(t, http.StatusNotFound, code, string(body))
	check()

	// The broadcast still goes at its time, or is canceled, unaffected.
	code, body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, broadcast.StatusCanceled, decodeBroadcast(t, body).Status)
}

// A preview of a broadcast that is sending or done leaves it as it is:
// its counters do not move and the preview's user gets one more message.
func TestPreviewOfASentBroadcastLeavesItUntouched(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 8, InstalledFraction: 1, Seed: 22}})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Sent already"}, Audience: broadcast.Audience{AllUsers: true}})
	done := e.WaitCompleted(b.ID, 3*time.Minute)
	u := members(e)[0]
	code, body := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/preview", fmt.Sprintf(`{"to":%q}`, u.UPN))
	require.Equal(t, http.StatusAccepted, code, string(body))
	previewed(t, e, body, u)
	after, err := e.Store.Broadcast(context.Background(), b.ID)
	require.NoError(t, err)
	require.Equal(t, done.Counts, after.Counts)
	require.Equal(t, broadcast.StatusCompleted, after.Status)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), 2)
	require.Equal(t, done.Counts.Sent+1, e.Sim.Ledger().Deliveries)
}

// The main use: preview a scheduled broadcast, then it goes at its time to
// everyone, the preview counted in none of its counters.
func TestPreviewThenTheScheduledBroadcastGoes(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 0.7, Seed: 23}})
	b := schedule(t, e, "Tomorrow's notice", time.Now().Add(4*time.Second))
	us := members(e)
	code, body := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/preview", fmt.Sprintf(`{"to":%q}`, us[0].UPN))
	require.Equal(t, http.StatusAccepted, code, string(body))
	previewed(t, e, body, us[0])

	end := e.WaitCompleted(b.ID, 3*time.Minute)
	require.NotNil(t, end.StartedAt)
	require.Equal(t, int64(len(us)), end.Counts.Total)
	require.Equal(t, int64(len(us)), end.Counts.Sent, "%+v", end.Counts)
	require.Zero(t, end.Counts.PossibleDuplicates)
	for i, u := range us {
		want := 1
		if i == 0 {
			want = 2 // the preview, then the broadcast
		}
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), want, "user %s", u.ID)
	}
	require.Equal(t, int64(len(us)+1), e.Sim.Ledger().Deliveries)
}
