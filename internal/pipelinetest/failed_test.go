package pipelinetest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A broadcast whose directory sync Graph refuses (403: User.Read.All not
// granted) is shown failed with Graph's answer by the API, listed under
// status=failed, and refuses a cancel and a replay; a broadcast to a group
// Graph lets us read goes on as usual.
func TestRefusedDirectorySyncShowsFailed(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 1}})
	e.Sim.InjectGraph(e.Tenant, teamsim.GraphFault{PathPrefix: "/users/delta", Status: http.StatusForbidden})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "to all"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitStatus(b.ID, broadcast.StatusFailed, time.Minute)

	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/broadcasts/"+b.ID, nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, "failed", got["status"])
	require.Equal(t, "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (directory sync)", got["error"])

	rec = httptest.NewRecorder()
	e.API.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/broadcasts?status=failed", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), b.ID)

	code, body := post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), `"failed"`)
	code, body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/replay")
	require.Equal(t, http.StatusConflict, code, string(body))

	group := e.Sim.Groups(e.Tenant)[0]
	ok := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "to a group"}, Audience: broadcast.Audience{GroupIDs: []string{group.ID}}})
	ok = e.WaitCompleted(ok.ID, 2*time.Minute)
	require.Empty(t, ok.Error)
	require.Positive(t, ok.Counts.Sent)
}
