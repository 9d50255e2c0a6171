package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// contractRoutes are routes of the API contract that other branches add;
// the description has them already.
var contractRoutes = []string{
	"POST /v1/broadcasts/{id}/edit",
	"POST /v1/broadcasts/{id}/recall",
}

// api/openapi.yaml is a valid OpenAPI document and describes every route
// the server registers, and the routes of the contract.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	srv := e.Server
	routes := srv.Routes()
	require.Contains(t, routes, "GET /v1/broadcasts/{id}/export")
	require.Contains(t, routes, "POST /v1/previews")
	for _, r := range append(routes, contractRoutes...) {
		method, path, ok := strings.Cut(r, " ")
		require.True(t, ok, "route %q has a method", r)
		item := doc.Paths.Value(path)
		require.NotNil(t, item, "api/openapi.yaml describes %s", path)
		op := item.GetOperation(method)
		require.NotNil(t, op, "api/openapi.yaml describes %s", r)
		require.NotEmpty(t, op.Summary, "%s has a summary", r)
		for code, resp := range op.Responses.Map() {
			if code[0] == '4' || code[0] == '5' {
				ct := resp.Value.Content.Get("application/json")
				require.NotNil(t, ct, "%s %s answers JSON", r, code)
				require.Equal(t, "#/components/schemas/Error", ct.Schema.Ref, "%s %s answers the error body", r, code)
			}
		}
	}
	// The headers of the idempotent create.
	create := doc.Paths.Value("/v1/broadcasts").Post
	require.NotNil(t, create.Parameters.GetByInAndName("header", "Idempotency-Key"))
	require.Contains(t, create.Responses.Value("200").Value.Headers, "Idempotent-Replayed")
	require.Contains(t, create.Responses.Value("409").Value.Headers, "Retry-After")
	require.Contains(t, create.Responses.Value("503").Value.Headers, "Retry-After")
}

// The API's real answers (and the create request) conform to
// api/openapi.yaml: the description is not only well formed but true.
func TestAnswersConformToOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	require.NoError(t, err)
	doc.Servers = nil // match any host: the test server's
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}})
	srv := httptest.NewServer(e.Server)
	defer srv.Close()

	key := e.AdminKey
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "conformance-"+e.Tenant)
			if strings.Contains(path, "/conversations/import") {
				req.Header.Set("Content-Type", "text/csv")
			}
		}
		route, params, err := router.FindRoute(req)
		require.NoError(t, err, "%s %s is described", method, path)
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if body != "" {
			require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in), "%s %s: the request conforms", method, path)
		}
		send, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body)) // ValidateRequest read req's body
		require.NoError(t, err)
		send.Header = req.Header.Clone()
		resp, err := http.DefaultClient.Do(send)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, resp.StatusCode, string(raw))
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out), "%s %s %d: the answer conforms: %s", method, path, resp.StatusCode, raw)
		return raw
	}

	ids := make([]string, 0, 3)
	for _, u := range e.Users() {
		ids = append(ids, `"`+u.ID+`"`)
	}
	raw := call(http.MethodPost, "/v1/broadcasts", `{"message":{"text":"conform"},"audience":{"userIds":[`+strings.Join(ids, ",")+`]},"priority":"urgent"}`, http.StatusAccepted)
	var b struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(raw, &b))
	e.WaitCompleted(b.ID, 2*time.Minute)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID, "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts?tenantId="+e.Tenant+"&limit=1", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?state=sent", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID+"/recipients?engagement=unread", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID+"/engagement?breakdown=department", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID+"/replies", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID+"/export", "", http.StatusOK)
	call(http.MethodGet, "/v1/tenants/"+e.Tenant, "", http.StatusOK)
	call(http.MethodGet, "/v1/tenants/"+e.Tenant+"/unreachable", "", http.StatusOK)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/cancel", "", http.StatusConflict)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/remind", `{"to":"unread","message":{"text":" "}}`, http.StatusBadRequest)
	// The create's Idempotency-Key: a remind is another request.
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/remind", `{"to":"unread"}`, http.StatusUnprocessableEntity)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/approve", `{"comment":"fine"}`, http.StatusConflict)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/reject", `{"comment":"no"}`, http.StatusConflict)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/replay", `{"reasons":["throttled"]}`, http.StatusAccepted)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{"text":"conform, edited"}}`, http.StatusAccepted)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{}}`, http.StatusBadRequest)
	e.WaitFor(b.ID, 2*time.Minute, "edit completed", func(b *broadcast.Broadcast) bool {
		return b.Edit != nil && b.Edit.Status == broadcast.ChangeCompleted
	})
	call(http.MethodGet, "/v1/broadcasts/"+b.ID, "", http.StatusOK)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/recall", `{}`, http.StatusAccepted)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/recall", `{}`, http.StatusOK)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{"text":"too late"}}`, http.StatusConflict)
	e.WaitFor(b.ID, 2*time.Minute, "recall completed", func(b *broadcast.Broadcast) bool {
		return b.Recall != nil && b.Recall.Status == broadcast.ChangeCompleted
	})
	call(http.MethodGet, "/v1/broadcasts/"+b.ID, "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d", "", http.StatusNotFound)
	call(http.MethodGet, "/v1/broadcasts?limit=9999", "", http.StatusBadRequest)
	call(http.MethodGet, "/v1/audit?limit=3", "", http.StatusOK)
	call(http.MethodGet, "/v1/audit?broadcastId="+b.ID+"&actor=admin", "", http.StatusOK)
	call(http.MethodGet, "/v1/audit?limit=0", "", http.StatusBadRequest)
	imports := simpleCSV(e, e.Users())
	call(http.MethodPost, importPath(e.Tenant, "dryRun=true"), imports, http.StatusOK)
	call(http.MethodPost, importPath(e.Tenant, ""), imports, http.StatusOK)
	call(http.MethodPost, importPath(e.Tenant, ""), imports+"bob,,\n", http.StatusUnprocessableEntity)
	call(http.MethodPost, importPath(e.Tenant, ""), "bob\n", http.StatusBadRequest)
	key = ""
	call(http.MethodGet, "/healthz", "", http.StatusOK)
	call(http.MethodGet, "/v1/broadcasts/"+b.ID, "", http.StatusUnauthorized)
	call(http.MethodPost, "/v1/broadcasts/"+b.ID+"/cancel", "", http.StatusUnauthorized)
}
