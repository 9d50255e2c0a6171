package demo_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// The demo, with the real binaries as separate processes, on a smaller
// tenant: its outcome matches the simulator's ledger user by user.
func TestDemoMatchesLedger(t *testing.T) {
	t.Parallel()
	bin := demo.BuildServices(t)

	var buf bytes.Buffer
	res, err := demo.Run(context.Background(), demo.Options{
		Users: 300, NotInstalled: 0.1, Blocked: 0.02, RPS: 300, GraphRPS: 200,
		BinDir: bin, WorkDir: t.TempDir(), RedisURL: testenv.Redis(t), Timeout: 3 * time.Minute,
		Out: &buf, Log: testenv.Logger(t),
	})
	require.NoError(t, err, buf.String())
	demo.Print(&buf, res)
	t.Log(buf.String())
	require.Empty(t, res.Problems)
	require.Contains(t, buf.String(), "console at http://127.0.0.1:", "the demo says where its console is")
	require.Contains(t, buf.String(), "(admin)", "and whom to sign in as")
	require.EqualValues(t, res.Expected.Deliverable, res.Broadcast.Counts.Sent)
	require.Positive(t, res.Expected.Blocked)
	require.Positive(t, res.Ledger.Installs, "some users had the app installed")
	// Each install reached the dispatcher's bot endpoint, which cached the
	// conversation; users who had the app before the run were found by a
	// lookup (a Connector create or Graph's), never installed again.
	require.Equal(t, res.Ledger.Installs, res.Ledger.BotActivities)
	require.Equal(t, res.Ledger.Installs, res.Ledger.BotAnswers[http.StatusOK])
	require.Zero(t, res.Ledger.InstallConflicts, "no install call for a user who had the app")
}
