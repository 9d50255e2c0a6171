package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/cli"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// bcast remind reminds the recipients known not to have read, says whom
// it left out, and status shows the link both ways.
func TestRemind(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, BotEndpoint: true})
	users := e.Users()
	code, out, stderr := bcast(t, api, "create", "--tenant", e.Tenant, "--text", "Read me", "--user", users[0].ID, "--user", users[1].ID)
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	e.WaitCompleted(id, 2*time.Minute)
	// users[0]'s receipts are on, below the message: known unread.
	status, _ := e.PostActivity(users[0].ID, map[string]any{"type": "event", "id": "r1",
		"name": "application/vnd.microsoft.readReceipt", "value": map[string]any{"lastReadMessageId": "0"}})
	require.Equal(t, 200, status)

	code, _, stderr = bcast(t, api, "remind", id, "--to", "everyone")
	require.Equal(t, cli.ExitUsage, code, stderr)
	code, _, stderr = bcast(t, api, "remind", id, "--to", "unacknowledged")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "no acknowledge button")

	file := filepath.Join(t.TempDir(), "reminder.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"text":"Please read it today"}`), 0o600))
	code, out, stderr = bcast(t, api, "remind", id, "--to", "unread", "--message-file", file, "--idempotency-key", "r-1")
	require.Equal(t, 0, code, stderr)
	rid := strings.TrimSpace(out)
	require.Contains(t, stderr, "reminds 1 of the 2 delivered (unread); 0 read; 1 left out: read receipts unknown")
	code, out, stderr = bcast(t, api, "remind", id, "--to", "unread", "--message-file", file, "--idempotency-key", "r-1")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, rid, strings.TrimSpace(out))
	require.Contains(t, stderr, "this is that reminder")

	e.WaitCompleted(rid, 2*time.Minute)
	code, out, stderr = bcast(t, api, "status", rid)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "kind        reminder")
	require.Contains(t, out, "reminder of "+id)
	code, out, stderr = bcast(t, api, "status", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "reminders   "+rid)
}
