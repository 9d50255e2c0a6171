package chaos_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/chaos"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// The short variants of the suite, side by side: a small broadcast per
// scenario, a few disruptions each. `make chaos` runs the long ones.
func TestShortScenarios(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/dispatcher", "./cmd/installer", "./cmd/sender")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	for _, tc := range []struct {
		scenario    string
		disruptions int
	}{
		{"kill", 4},
		{"nats-restart", 1},
		{"nats-node", 1},
		{"redis-restart", 1},
		{"storm", 3},
		{"stall", 3},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			s, ok := chaos.Lookup(tc.scenario)
			require.True(t, ok)
			var buf bytes.Buffer
			res, err := chaos.Run(context.Background(), s, chaos.Options{
				Users: 1000, RPS: 300, Disruptions: tc.disruptions, BinDir: bin, WorkDir: t.TempDir(),
				Timeout: 4 * time.Minute, Out: &buf, Log: testenv.Logger(t),
			})
			require.NoError(t, err, buf.String())
			chaos.Print(&buf, []*chaos.Result{res})
			t.Log(buf.String())
			require.Empty(t, res.Problems)
			require.Positive(t, res.Recipients)
			switch tc.scenario {
			case "kill":
				require.Positive(t, res.TotalKills())
			case "nats-restart", "nats-node", "redis-restart", "stall":
				require.Equal(t, tc.disruptions, res.Restarts)
			case "storm":
				require.Positive(t, res.Bursts)
			}
		})
	}
}
