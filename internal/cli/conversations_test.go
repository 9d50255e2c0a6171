package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/cli"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func importUser(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// writeImport writes a file of n rows of the simple shape; bad, if set,
// replaces row i's line.
func writeImport(t *testing.T, n int, svc string, bad map[int]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("userId,conversationId,serviceUrl\n")
	for i := 1; i <= n; i++ {
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, "%s,a:1conv%d,%s\n", importUser(i), i, svc)
	}
	path := filepath.Join(t.TempDir(), "conversations.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func cachedCount(t *testing.T, e *pipelinetest.Env, users ...int) int {
	t.Helper()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = importUser(u)
	}
	got, err := e.Store.Conversations(context.Background(), e.Tenant, ids)
	require.NoError(t, err)
	return len(got)
}

// A file of 25,000 rows goes in three requests; run again it changes
// nothing.
func TestImportConversationsCommand(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	path := writeImport(t, 25_000, e.SimURL+"/connector/", nil)

	code, out, stderr := bcast(t, api, "import-conversations", "--tenant", e.Tenant, path)
	require.Equal(t, cli.ExitOK, code, "%s %s", out, stderr)
	require.Contains(t, out, "25000 rows (simple), 25000 conversations imported for tenant "+e.Tenant)
	require.Contains(t, out, "new        25000")
	require.Contains(t, stderr, "10000 of 25000 written\n20000 of 25000 written\n")
	require.Equal(t, 4, cachedCount(t, e, 1, 10_000, 10_001, 25_000))

	code, out, stderr = bcast(t, api, "import-conversations", "--tenant", e.Tenant, path)
	require.Equal(t, cli.ExitOK, code, "%s %s", out, stderr)
	require.Contains(t, out, "unchanged  25000")
}

// One bad row near the end of a file of several requests' rows: reported
// by line and column, and nothing is written, not even the first rows.
func TestImportConversationsCommandWritesNothingWithABadRow(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	path := writeImport(t, 20_500, e.SimURL+"/connector/", map[int]string{20_000: importUser(20_000) + ",,https://x/"})

	code, out, stderr := bcast(t, api, "import-conversations", "--tenant", e.Tenant, path)
	require.Equal(t, cli.ExitError, code, "%s %s", out, stderr)
	require.Contains(t, stderr, path+": line 20001, conversationId: is empty")
	require.Contains(t, stderr, "1 problems: nothing was imported")
	require.Zero(t, cachedCount(t, e, 1, 2, 10_000, 20_500))
}

// A host the API does not allow is found before anything is written,
// and reported at the file's line.
func TestImportConversationsCommandChecksHostsFirst(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	path := writeImport(t, 12_000, e.SimURL+"/connector/", map[int]string{11_000: importUser(11_000) + ",a:1x,https://attacker.example/"})

	code, out, stderr := bcast(t, api, "import-conversations", "--tenant", e.Tenant, path)
	require.Equal(t, cli.ExitError, code, "%s %s", out, stderr)
	require.Contains(t, stderr, "the API refused the file")
	require.Contains(t, stderr, "serviceUrl: line 11001: serviceUrl \"https://attacker.example/\": host attacker.example over https is not in the allow-list")
	require.Contains(t, stderr, "nothing was imported")
	require.Zero(t, cachedCount(t, e, 1, 11_000, 12_000))
}

// "-" reads standard input; --dry-run writes nothing; --tenant is needed.
func TestImportConversationsCommandStdinDryRun(t *testing.T) { // not parallel: replaces standard input
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	raw, err := os.ReadFile(writeImport(t, 3, e.SimURL+"/connector/", nil))
	require.NoError(t, err)
	defer cli.SetStdin(strings.NewReader(string(raw) + importUser(1) + ",a:1conv1," + e.SimURL + "/connector/\n"))()

	code, out, stderr := bcast(t, api, "import-conversations", "--tenant", e.Tenant, "--dry-run", "-")
	require.Equal(t, cli.ExitOK, code, "%s %s", out, stderr)
	require.Contains(t, out, "standard input: 4 rows checked (simple), 3 conversations to import; nothing written")
	require.Contains(t, out, "skipped    1 (1 repeated rows")
	require.Zero(t, cachedCount(t, e, 1, 2, 3))

	code, _, stderr = bcast(t, api, "import-conversations", "-")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, stderr, "--tenant")
}
