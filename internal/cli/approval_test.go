package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/cli"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// bcast approve and reject, and the pending broadcasts in list and status.
func TestApproveAndReject(t *testing.T) {
	t.Parallel()
	authorToken, author, err := auth.Generate("author", auth.Author)
	require.NoError(t, err)
	approverToken, approver, err := auth.Generate("approver", auth.Approver)
	require.NoError(t, err)
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 4, InstalledFraction: 1},
		Keys: []auth.Key{author, approver}, Approval: dispatch.Approval{Policy: broadcast.ApprovalPolicy{Always: true}}})
	asAuthor, asApprover := api, api
	asAuthor.key, asApprover.key = authorToken, approverToken

	code, out, stderr := bcast(t, asAuthor, "create", "--text", "Held back", "--user", e.Users()[0].ID)
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	require.Contains(t, stderr, "waits for approval (rule always)")
	code, out, stderr = bcast(t, asApprover, "list", "--pending")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, id)
	require.Contains(t, out, "pending_approval")
	code, out, stderr = bcast(t, asApprover, "status", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "approval    pending (rule always)")

	code, _, stderr = bcast(t, asApprover, "reject", id)
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, stderr, "--comment is required")
	code, _, stderr = bcast(t, asAuthor, "approve", id)
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "403 Forbidden")
	code, out, stderr = bcast(t, asApprover, "approve", id, "--comment", "fine")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, `approved by approver`)
	require.Contains(t, out, `"fine"`)
	e.WaitCompleted(id, 2*time.Minute)
	code, _, stderr = bcast(t, asApprover, "approve", id)
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "409 Conflict (not_pending)")

	code, out, stderr = bcast(t, asAuthor, "create", "--text", "Not this one", "--user", e.Users()[1].ID)
	require.Equal(t, 0, code, stderr)
	id = strings.TrimSpace(out)
	code, out, stderr = bcast(t, asApprover, "reject", id, "--comment", "Wait for Friday")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, id+" rejected")
	require.Contains(t, out, `rejected by approver`)
	code, out, stderr = bcast(t, asAuthor, "list", "--status", "rejected")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, id)
}
