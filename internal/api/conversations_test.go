package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
)

// importErrorBody is an import's error: each problem with its line.
type importErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Field, Problem string
			Line           int
		} `json:"fields"`
		ProblemCount int `json:"problemCount"`
	} `json:"error"`
}

func importPath(tenant, query string) string {
	p := "/v1/tenants/" + tenant + "/conversations/import"
	if query != "" {
		p += "?" + query
	}
	return p
}

// chatID is the simulator's Graph chat id of a user's installation: a
// conversation id Teams knows.
func chatID(user string) string {
	return "19:" + user + "_" + pipelinetest.BotAppID + "@unq.gbl.spaces"
}

// simpleCSV lists the users' conversations in the simple shape.
func simpleCSV(e *pipelinetest.Env, users []teamsim.User) string {
	var b strings.Builder
	b.WriteString("userId,conversationId,serviceUrl\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s,%s/connector/\n", u.ID, chatID(u.ID), e.SimURL)
	}
	return b.String()
}

func cached(t *testing.T, e *pipelinetest.Env, users []teamsim.User) map[string]string {
	t.Helper()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	got, err := e.Store.Conversations(context.Background(), e.Tenant, ids)
	require.NoError(t, err)
	return got
}

// Imported conversations make the first broadcast warm: every recipient
// is sent to at once, without an install, a lookup or a create. The
// import is in the audit log, and running it again changes nothing.
func TestImportConversationsWarmsTheFirstBroadcast(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 20, InstalledFraction: 1, Seed: 12}})
	users := e.Users()
	body := simpleCSV(e, users)

	rec, _ := do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv", body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var res api.ImportResult
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	require.Equal(t, api.ImportResult{TenantID: e.Tenant, Shape: "simple", Rows: 20, Valid: 20,
		ImportCounts: store.ImportCounts{Imported: 20}}, res)
	require.Len(t, cached(t, e, users), 20)

	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "warm"}, Audience: broadcast.Audience{UserIDs: ids}})
	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, broadcast.Counts{Total: 20, Sent: 20}, got.Counts)
	l := e.Sim.Ledger()
	for _, k := range []string{teamsim.KindGraphInstall, teamsim.KindGraphInstalledGet, teamsim.KindGraphChat, teamsim.KindConnectorCreate} {
		require.Zero(t, l.Requests[k], "%s: the conversations were known", k)
	}
	require.EqualValues(t, 20, l.Requests[teamsim.KindConnectorSend])

	rec, _ = do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv; charset=utf-8", body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	require.Equal(t, store.ImportCounts{Unchanged: 20}, res.ImportCounts, "idempotent")

	entries, _, err := e.Store.Audit(context.Background(), store.AuditFilter{Actor: "admin", Limit: 1000})
	require.NoError(t, err)
	n := 0
	for _, a := range entries {
		if a.Action == api.ActionImport && a.TenantID == e.Tenant {
			require.Equal(t, http.StatusOK, a.Status)
			n++
		}
	}
	require.Equal(t, 2, n, "each import is in the audit log")
}

// A file with one bad row among good ones writes nothing and names the
// line and the column; a dry run of a good file writes nothing either.
func TestImportWritesNothingUnlessEveryRowIsGood(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 1}, NoWorkers: true})
	users := e.Users()
	good := simpleCSV(e, users)
	bad := good + users[0].ID + ",a:1x,https://attacker.example/connector/\n" // line 32

	rec, _ := do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv", bad)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	var eb importErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
	require.Equal(t, "invalid_rows", eb.Error.Code)
	require.Equal(t, 1, eb.Error.ProblemCount)
	require.Contains(t, eb.Error.Message, "nothing was imported")
	require.Len(t, eb.Error.Fields, 1)
	f := eb.Error.Fields[0]
	require.Equal(t, 32, f.Line)
	require.Equal(t, "serviceUrl", f.Field)
	require.Contains(t, f.Problem, "line 32: ")
	require.Contains(t, f.Problem, `host attacker.example over https is not in the allow-list`)
	require.Empty(t, cached(t, e, users), "nothing half-imported")

	rec, _ = do(t, e.API, http.MethodPost, importPath(e.Tenant, "dryRun=true"), "text/csv", good)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var res api.ImportResult
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	require.True(t, res.DryRun)
	require.Equal(t, 30, res.Valid)
	require.Empty(t, cached(t, e, users), "a dry run writes nothing")
}

// Company Communicator's UserData table, exported by Azure Storage
// Explorer, goes in as it is: its reached users are imported, the others
// skipped and counted.
func TestImportCompanyCommunicatorExport(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 6, InstalledFraction: 1}, NoWorkers: true})
	users := e.Users()
	var b strings.Builder
	b.WriteString("\ufeffPartitionKey,RowKey,Timestamp,AadId,AadId@type,ConversationId,ConversationId@type,Name,Name@type,ServiceUrl,ServiceUrl@type,TenantId,TenantId@type,UserId,UserId@type,UserType,UserType@type\r\n")
	svc := e.SimURL + "/connector/"
	for i, u := range users[:4] {
		fmt.Fprintf(&b, "UserData,%s,2024-03-11T09:14:22.531Z,%s,Edm.String,%s,Edm.String,\"%s\",Edm.String,%s,Edm.String,%s,Edm.String,29:1user%d,Edm.String,Member,Edm.String\r\n",
			u.ID, u.ID, chatID(u.ID), u.DisplayName, svc, strings.ToUpper(e.Tenant), i)
	}
	fmt.Fprintf(&b, "UserData,%s,2024-03-12T02:00:41.004Z,%s,Edm.String,,,,,,,,,,,,\r\n", users[4].ID, users[4].ID)
	fmt.Fprintf(&b, "AuthorData,%s,2024-03-10T11:02:33.444Z,%s,Edm.String,a:1authorbot,Edm.String,x,Edm.String,%s,Edm.String,%s,Edm.String,29:1x,Edm.String,,\r\n", users[5].ID, users[5].ID, svc, e.Tenant)

	rec, _ := do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv", b.String())
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var res api.ImportResult
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	require.Equal(t, "companyCommunicator", res.Shape)
	require.Equal(t, 6, res.Rows)
	require.Equal(t, store.ImportCounts{Imported: 4}, res.ImportCounts)
	require.Equal(t, api.ImportSkipped{NoConversation: 1, OtherPartition: 1}, res.Skipped)
	got := cached(t, e, users)
	require.Len(t, got, 4)
	require.Equal(t, chatID(users[0].ID), got[users[0].ID])
}

// hideLength makes a body of unknown length (chunked).
type hideLength struct{ io.Reader }

func TestImportRejects(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, NoWorkers: true})
	u := e.Users()[0].ID
	row := u + ",a:1x," + e.SimURL + "/connector/\n"
	cases := []struct {
		name, path, ct, body string
		status               int
		has                  string
	}{
		{"tenant not served", importPath("11111111-2222-4333-8444-555555555555", ""), "text/csv", "userId,conversationId,serviceUrl\n" + row, 404, "does not serve tenant"},
		{"JSON", importPath(e.Tenant, ""), "application/json", `{}`, 415, "text/csv"},
		{"no header", importPath(e.Tenant, ""), "text/csv", row, 400, "line 1: no header"},
		{"empty", importPath(e.Tenant, ""), "", "", 400, "the file is empty"},
		{"bad dryRun", importPath(e.Tenant, "dryRun=yes"), "text/csv", "userId,conversationId,serviceUrl\n" + row, 400, "dryRun"},
		{"unknown parameter", importPath(e.Tenant, "force=true"), "text/csv", "userId,conversationId,serviceUrl\n" + row, 400, "force"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, eb := do(t, e.API, http.MethodPost, c.path, c.ct, c.body)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), c.has, "%+v", eb)
		})
	}

	t.Run("problems capped at 100, all counted", func(t *testing.T) {
		body := "userId,conversationId,serviceUrl\n" + strings.Repeat("nobody,a:1x,https://smba.trafficmanager.net/teams/\n", 150)
		rec, _ := do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv", body)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
		var eb importErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
		require.Equal(t, 150, eb.Error.ProblemCount)
		require.Len(t, eb.Error.Fields, 100)
		require.Contains(t, eb.Error.Message, "150 problems in the file (the first 100 listed)")
		require.Equal(t, 2, eb.Error.Fields[0].Line)
	})

	// Rows of 1 KB: the size bound, not the row bound, is reached.
	long := u + ",a:1" + strings.Repeat("x", 1000) + "," + e.SimURL + "/connector/\n"
	big := "userId,conversationId,serviceUrl\n" + strings.Repeat(long, api.MaxImportBytes/len(long)+1)
	t.Run("too large, declared", func(t *testing.T) {
		rec, _ := do(t, e.API, http.MethodPost, importPath(e.Tenant, ""), "text/csv", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		require.Contains(t, rec.Body.String(), "33554432 bytes")
	})
	t.Run("too large, chunked", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, importPath(e.Tenant, ""), hideLength{strings.NewReader(big)})
		req.ContentLength = -1
		req.Header.Set("Content-Type", "text/csv")
		rec := httptest.NewRecorder()
		e.API.ServeHTTP(rec, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), "the file is over 33554432 bytes, the bound of one request")
	})
	require.Empty(t, cached(t, e, e.Users()))
}
