package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/cli"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// keygen mints a key through the CLI: the key and its configuration line.
func keygen(t *testing.T, name, role string) (token, line string) {
	t.Helper()
	code, out, stderr := bcast(t, server{}, "keygen", "--name", name, "--role", role)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Contains(t, stderr, "shown only now")
	require.NotContains(t, stderr, lines[0], "the key goes to standard output only")
	return lines[0], lines[1]
}

// bcast keygen mints keys the dispatcher's configuration reads; the CLI
// sends its key from --api-key or BCAST_API_KEY, never prints it, and
// shows 401 and 403 as errors with their status and code; bcast audit
// lists what the keys did.
func TestKeygenAndAPIKey(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}, NoWorkers: true})
	sfx := e.Tenant[:8]
	adminKey, adminLine := keygen(t, "ops-"+sfx, "admin")
	authorKey, authorLine := keygen(t, "hr-"+sfx, "author")
	viewerKey, viewerLine := keygen(t, "reader-"+sfx, "viewer")
	require.True(t, strings.HasPrefix(adminKey, auth.KeyPrefix))
	require.Regexp(t, `^hr-`+sfx+` author sha256:[0-9a-f]{64}$`, authorLine)
	require.NotContains(t, authorLine, authorKey)

	// The lines, as the dispatcher's API_KEYS_FILE holds them.
	keys, err := auth.ParseKeys("API_KEYS_FILE", strings.NewReader("# minted by bcast keygen\n"+adminLine+"\n"+authorLine+"\n"+viewerLine+"\n"))
	require.NoError(t, err)
	set, err := auth.NewKeys(keys)
	require.NoError(t, err)
	hs := httptest.NewServer(api.New(e.Dispatcher, e.Queue, e.Store, api.Auth{Keys: set}, e.Log.Named("api")))
	t.Cleanup(hs.Close)

	// No key, a wrong key: 401, the hint, and never the key.
	code, _, stderr := bcast(t, server{url: hs.URL}, "list")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "401 Unauthorized (unauthorized): missing API key")
	require.Contains(t, stderr, "BCAST_API_KEY")
	code, _, stderr = bcast(t, server{url: hs.URL, key: "bk_wrong-key-value"}, "list")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "401 Unauthorized (unauthorized): invalid API key")
	require.NotContains(t, stderr, "wrong-key-value")

	// A viewer reads but does not create: 403 naming the role.
	viewer := server{url: hs.URL, key: viewerKey}
	code, _, stderr = bcast(t, viewer, "list")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = bcast(t, viewer, "create", "--text", "hi", "--user", e.Users()[0].ID)
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "403 Forbidden (forbidden)")
	require.Contains(t, stderr, "needs the role author")
	require.NotContains(t, stderr, viewerKey)

	// --api-key wins over BCAST_API_KEY.
	code, out, stderr := bcast(t, viewer, "--api-key", authorKey, "create", "--text", "hi", "--user", e.Users()[0].ID)
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	code, out, _ = bcast(t, viewer, "status", id)
	require.Equal(t, 0, code)
	require.Contains(t, out, "created by  hr-"+sfx)
	code, _, stderr = bcast(t, server{url: hs.URL, key: authorKey}, "recall", id)
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "needs the role admin")

	// bcast audit: admins only; the entries of the broadcast.
	code, _, stderr = bcast(t, server{url: hs.URL, key: authorKey}, "audit")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "403 Forbidden")
	admin := server{url: hs.URL, key: adminKey}
	code, out, stderr = bcast(t, admin, "audit", "--broadcast", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "ACTION")
	require.Regexp(t, `hr-`+sfx+` +author +broadcast.recall +403 +`+id, out)
	require.Regexp(t, `hr-`+sfx+` +author +broadcast.create +202 +`+id, out)
	code, out, _ = bcast(t, admin, "audit", "--actor", "reader-"+sfx, "--json")
	require.Equal(t, 0, code)
	var entries []broadcast.AuditEntry
	require.NoError(t, json.Unmarshal([]byte(out), &entries))
	require.Len(t, entries, 1)
	require.Equal(t, "broadcast.create", entries[0].Action)
	require.Equal(t, http.StatusForbidden, entries[0].Status)

	// Usage errors.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "--name", "x"}, "required flag"},
		{[]string{"keygen", "--name", "x", "--role", "root"}, `unknown role "root"`},
		{[]string{"keygen", "--name", "has space", "--role", "viewer"}, "--name"},
		{[]string{"--api-key", "two words", "list"}, "--api-key"},
		{[]string{"audit", "--limit", "0"}, "--limit"},
	} {
		code, _, stderr := bcast(t, admin, c.args...)
		require.Equal(t, cli.ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
	}
	// --help never shows a key from the environment.
	code, out, _ = bcast(t, admin, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "--api-key")
	require.NotContains(t, out, adminKey)
}

// The CLI sends its key as a bearer token on every call.
func TestKeyIsSentAsBearer(t *testing.T) {
	t.Parallel()
	srv, last := recorder(t, http.StatusOK, `{"broadcasts":[]}`)
	code, _, stderr := bcast(t, srv, "list")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "Bearer bk_recorded", last().authorization)
	srv.key = ""
	code, _, stderr = bcast(t, srv, "list")
	require.Equal(t, 0, code, stderr)
	require.Empty(t, last().authorization, "no key, no header")
}
