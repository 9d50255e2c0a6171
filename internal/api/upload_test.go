package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// multipartBody builds a multipart/form-data body of the parts, in order.
func multipartBody(t *testing.T, parts ...[2]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		w, err := mw.CreateFormFile(p[0], p[0]+".csv")
		require.NoError(t, err)
		_, err = w.Write([]byte(p[1]))
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), buf.String()
}

// A CSV upload of ids and UPNs, with an exclusion CSV: the listed users
// get the message once, the excluded one not, the unknown UPN is reported.
func TestCreateWithCSVRecipients(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 12, InstalledFraction: 1, Seed: 21}})
	users := e.Users()
	csv := "userPrincipalName,note\n" + users[0].UPN + ",first\n" + strings.ToUpper(users[1].UPN) + "\n" + users[2].ID + "\n" +
		users[0].ID + "\nnobody@contoso.example\n" + users[3].UPN + "\n"
	ct, body := multipartBody(t,
		[2]string{"recipients", csv},
		[2]string{"broadcast", `{"message":{"text":"From a spreadsheet"},"audience":{"userIds":["` + users[4].ID + `"]}}`},
		[2]string{"exclude", users[3].ID + "\n"})
	rec, _ := do(t, e.API, http.MethodPost, "/v1/broadcasts", ct, body)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))

	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.EqualValues(t, 4, *got.AudienceSize, "users 0, 1, 2 and 4: 0 twice, 3 excluded")
	require.Equal(t, broadcast.Counts{Total: 4, Sent: 4}, got.Counts)
	require.Equal(t, &broadcast.Unresolved{Count: 1, UPNs: []string{"nobody@contoso.example"}}, got.Unresolved)
	for i, want := range []int{1, 1, 1, 0, 1} {
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[i].ID), want, "user %d", i)
	}

	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID, "", "")
	require.Contains(t, rec.Body.String(), `"audienceSize": 4`)
}

func TestCreateUploadRejects(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1}, NoWorkers: true})
	msg := [2]string{"broadcast", `{"message":{"text":"hi"},"audience":{}}`}
	id := e.Users()[0].ID
	cases := []struct {
		name           string
		parts          [][2]string
		field, problem string
	}{
		{"bad row", [][2]string{msg, {"recipients", "id\n" + id + "\nbob\n"}}, "recipients", `line 3: "bob" is neither`},
		{"bad quoting", [][2]string{msg, {"recipients", id + "\n\"x\n"}}, "recipients", "line 2: not valid CSV"},
		{"first row not a header", [][2]string{msg, {"recipients", "jdoe\n" + id + "\n"}}, "recipients", `line 1: "jdoe" is neither`},
		{"bad exclusion", [][2]string{msg, {"recipients", id + "\n"}, {"exclude", "\n,\n"}}, "exclude", "line 2: the first column is empty"},
		{"no broadcast part", [][2]string{{"recipients", id + "\n"}}, "broadcast", "required"},
		{"no recipients", [][2]string{msg}, "audience", "required"},
		{"unknown part", [][2]string{msg, {"users", id}}, "body", `unknown part "users"`},
		{"twice", [][2]string{msg, msg}, "broadcast", "twice"},
		{"bad JSON", [][2]string{{"broadcast", `{"message":`}, {"recipients", id}}, "body", "malformed JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, body := multipartBody(t, c.parts...)
			rec, eb := do(t, e.API, http.MethodPost, "/v1/broadcasts", ct, body)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			require.NotEmpty(t, eb.Error.Fields, rec.Body.String())
			require.Equal(t, c.field, eb.Error.Fields[0].Field, rec.Body.String())
			require.Contains(t, eb.Error.Fields[0].Problem, c.problem)
		})
	}

	t.Run("no boundary", func(t *testing.T) {
		rec, eb := do(t, e.API, http.MethodPost, "/v1/broadcasts", "multipart/form-data", "x")
		require.Equal(t, http.StatusBadRequest, rec.Code)
		require.Contains(t, eb.Error.Message, "multipart")
	})
	t.Run("too large", func(t *testing.T) {
		ct, body := multipartBody(t, [2]string{"broadcast", `{"message":{"text":"` + strings.Repeat("x", 17<<20) + `"},"audience":{}}`})
		req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rr := httptest.NewRecorder()
		e.API.ServeHTTP(rr, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, rr.Code, rr.Body.String())
	})
}
