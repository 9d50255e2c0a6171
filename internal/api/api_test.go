package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

type errorBody struct {
	Error struct {
		Code    string                 `json:"code"`
		Message string                 `json:"message"`
		Fields  []broadcast.FieldError `json:"fields"`
	} `json:"error"`
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) (*httptest.ResponseRecorder, errorBody) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var eb errorBody
	if rec.Code >= 400 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb), "error bodies are JSON: %s", rec.Body.String())
		require.NotEmpty(t, eb.Error.Message)
	}
	return rec, eb
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1}, NoWorkers: true})
	bigCard := `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", 50_000) + `"}]}`
	hugeCard := `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", 3*80*1024) + `"}]}`
	cases := []struct {
		name, body, field, problem string
		status                     int
	}{
		{"missing message", `{"audience":{"allUsers":true}}`, "message", "required", 400},
		{"empty audience", `{"message":{"text":"hi"},"audience":{"userIds":[]}}`, "audience.userIds", "empty", 400},
		{"no audience", `{"message":{"text":"hi"}}`, "audience", "required", 400},
		{"unknown field", `{"message":{"text":"hi"},"audience":{"allUsers":true},"sendLater":"tomorrow"}`, "sendLater", "unknown field", 400},
		{"malformed JSON", `{"message":{"text":"hi"`, "body", "malformed JSON", 400},
		{"not an object", `[1,2]`, "body", "must be an object", 400},
		{"oversized card", `{"message":{"card":` + hugeCard + `},"audience":{"allUsers":true}}`, "message.card", "too large", 400},
		{"oversized message", `{"message":{"text":"` + strings.Repeat("y", 35_000) + `","card":` + bigCard + `},"audience":{"allUsers":true}}`, "message", "80 KB", 400},
		{"unknown placeholder", `{"message":{"template":{"title":"Hi {{nickname}}"}},"audience":{"allUsers":true}}`, "message.template.title", "unknown placeholder {{nickname}}", 400},
		{"javascript button", `{"message":{"template":{"title":"Hi","buttons":[{"title":"x","url":"javascript:alert(1)"}]}},"audience":{"allUsers":true}}`, "message.template.buttons[0].url", "https://", 400},
		{"unknown card element", `{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Carousel"}]}},"audience":{"allUsers":true}}`, "message.card.body[0].type", "Carousel", 400},
		// 61,500 units as written, but each placeholder may become a 256-unit name.
		{"over the budget once personalised", `{"message":{"text":"` + strings.Repeat("{{displayName}}", 100) + strings.Repeat("x", 60_000) + `"},"audience":{"allUsers":true}}`, "message", "over Teams' budget", 400},
		{"tenant not served", `{"tenantId":"12345678-1234-1234-1234-123456789012","message":{"text":"hi"},"audience":{"allUsers":true}}`, "tenantId", "does not serve", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, eb := do(t, e.API, http.MethodPost, "/v1/broadcasts", "application/json", c.body)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			require.Equal(t, "invalid_request", eb.Error.Code)
			found := false
			for _, f := range eb.Error.Fields {
				if f.Field == c.field {
					require.Contains(t, f.Problem, c.problem)
					found = true
				}
			}
			require.True(t, found, "field %q named in %s", c.field, rec.Body.String())
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		rec, _ := do(t, e.API, http.MethodPost, "/v1/broadcasts", "text/plain", `{}`)
		require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
	})
	t.Run("body too large", func(t *testing.T) {
		rec, eb := do(t, e.API, http.MethodPost, "/v1/broadcasts", "application/json", `{"message":{"text":"`+strings.Repeat("x", api.MaxBodyBytes)+`"}}`)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		require.Equal(t, "too_large", eb.Error.Code)
	})
	ids, err := e.Store.Expanding(t.Context())
	require.NoError(t, err)
	for _, id := range ids {
		b, err := e.Store.Broadcast(t.Context(), id)
		if err == nil {
			require.NotEqual(t, e.Tenant, b.TenantID, "a refused request wrote nothing")
		}
	}
}

func TestCreateGetAndList(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 12, InstalledFraction: 1, Seed: 5}})
	var ids []string
	for _, u := range e.Users() {
		ids = append(ids, `"`+u.ID+`"`)
	}
	rec, _ := do(t, e.API, http.MethodPost, "/v1/broadcasts", "application/json",
		`{"message":{"text":"Lunch is on us"},"audience":{"userIds":[`+strings.Join(ids, ",")+`]}}`)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
	require.Equal(t, "/v1/broadcasts/"+b.ID, rec.Header().Get("Location"))
	require.Equal(t, e.Tenant, b.TenantID)
	e.WaitCompleted(b.ID, 2*time.Minute)

	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID, "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
	require.Equal(t, broadcast.StatusCompleted, b.Status)
	require.Equal(t, broadcast.Counts{Total: 12, Sent: 12}, b.Counts)

	// Page through the sent recipients, 5 at a time.
	var seen []string
	cursor := ""
	for {
		rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?state=sent&limit=5&cursor="+cursor, "", "")
		require.Equal(t, http.StatusOK, rec.Code)
		var page api.RecipientsPage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		for _, r := range page.Recipients {
			require.Equal(t, broadcast.StateSent, r.State)
			require.NotEmpty(t, r.ActivityID)
			seen = append(seen, r.UserID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Len(t, seen, 12)

	rec, eb := do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?state=lost", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "state", eb.Error.Fields[0].Field)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?limit=0", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/0190a3b2-0000-7000-8000-000000000000", "", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/not-an-id", "", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
}

// The tenant's status shows its pause, its rate, its booked budget and its
// queued jobs.
func TestTenantStatus(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 7, InstalledFraction: 1}, NoWorkers: true})
	// A 429 at a configured 50/s pauses the tenant and lowers its rate
	// (every episode does with Isolation 0; by default only a repeated one).
	everyEpisode := store.DefaultAdaptive
	everyEpisode.Isolation = 0
	_, _, lowered, err := e.Store.WithAdaptive(everyEpisode).Throttle(t.Context(), e.Tenant, 30*time.Second, 50)
	require.NoError(t, err)
	require.True(t, lowered)
	e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "queued"}, Audience: broadcast.Audience{AllUsers: true}})
	var st api.TenantStatus
	testenv.Eventually(t, 10*time.Second, func() bool {
		rec, _ := do(t, e.API, http.MethodGet, "/v1/tenants/"+strings.ToUpper(e.Tenant), "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
		return st.Queued[broadcast.StageInstall] == 7
	}, "the broadcast's 7 install jobs are queued (no workers run)")
	require.Equal(t, e.Tenant, st.TenantID)
	require.Greater(t, st.PausedForMs, int64(20_000))
	require.NotNil(t, st.CurrentRPS)
	require.NotNil(t, st.ConfiguredRPS)
	require.InDelta(t, 45, *st.CurrentRPS, 0.01, "x0.9 of the configured rate, not probing during the pause")
	require.InDelta(t, 50, *st.ConfiguredRPS, 0.01)
	require.Zero(t, st.Queued[broadcast.StageSend])

	rec, _ := do(t, e.API, http.MethodGet, "/v1/tenants/12345678-1234-1234-1234-123456789012", "", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
}
