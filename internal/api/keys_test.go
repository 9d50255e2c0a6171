package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// testKeys are API keys for tests: a token per name, and the set.
type testKeys struct {
	token map[string]string
	set   *auth.Keys
}

// newKeys mints a key per name, with the role given after it:
// newKeys(t, "ops", auth.Admin, "hr", auth.Author).
func newKeys(t testing.TB, pairs ...any) testKeys {
	t.Helper()
	k := testKeys{token: map[string]string{}}
	var keys []auth.Key
	for i := 0; i+1 < len(pairs); i += 2 {
		name := pairs[i].(string)
		tok, key, err := auth.Generate(name, pairs[i+1].(auth.Role))
		require.NoError(t, err)
		k.token[name] = tok
		keys = append(keys, key)
	}
	set, err := auth.NewKeys(keys)
	require.NoError(t, err)
	k.set = set
	return k
}

// newAdminAPI is api.New called as an admin: every request without an
// Authorization header carries the key of "admin".
func newAdminAPI(t testing.TB, c api.Creator, q api.Queue, st *store.Store, log *zap.Logger) (*api.Server, http.Handler) {
	t.Helper()
	k := newKeys(t, "admin", auth.Admin)
	srv := api.New(c, q, st, api.Auth{Keys: k.set}, log)
	return srv, pipelinetest.AsKey(srv, k.token["admin"])
}
