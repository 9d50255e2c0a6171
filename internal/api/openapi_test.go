package api_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// contractRoutes are routes of the API contract that other branches add;
// the description has them already.
var contractRoutes = []string{
	"POST /v1/previews",
	"POST /v1/broadcasts/{id}/preview",
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
	srv := api.New(e.Dispatcher, e.Queue, e.Store, e.Log)
	routes := srv.Routes()
	require.Contains(t, routes, "GET /v1/broadcasts/{id}/export")
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
