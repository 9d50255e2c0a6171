// Package compose holds the Docker Compose files; its test checks them where
// no compose tool is installed.
package compose

import (
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/broadcast-dev/broadcast/internal/devenv"
)

// The development compose file starts NATS with JetStream on file storage and
// Redis with an append-only file, both with the durability settings of
// docs/OPERATIONS.md and on the host's loopback only.
func TestDevelopmentServers(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	require.NoError(t, err)
	var f struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	require.NoError(t, yaml.Unmarshal(data, &f))

	nats := f.Services["nats"]
	require.True(t, strings.HasPrefix(nats.Image, "nats:2.1"), "NATS 2.10 or later: %s", nats.Image)
	require.Equal(t, []string{"-c", "/etc/nats/nats.conf"}, nats.Command)
	require.Contains(t, nats.Volumes, "./nats.conf:/etc/nats/nats.conf:ro")
	// nats-server's own parser reads the file the container gets: JetStream
	// on file storage in the volume, fsynced as often as the servers that
	// `make demo` and the tests start.
	opts, err := server.ProcessConfigFile("nats.conf")
	require.NoError(t, err)
	require.True(t, opts.JetStream)
	require.Equal(t, "/data", opts.StoreDir)
	require.Contains(t, nats.Volumes, "nats-data:/data")
	require.False(t, opts.SyncAlways)
	require.Equal(t, devenv.DefaultSyncInterval, opts.SyncInterval)

	redis := f.Services["redis"]
	require.Contains(t, strings.Join(redis.Command, " "), "--appendonly yes --appendfsync always")

	for name, s := range f.Services {
		require.NotEmpty(t, s.Ports, name)
		for _, p := range s.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s beyond loopback", name, p)
		}
		for _, v := range s.Volumes {
			vol := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(vol, "./") { // a file of this directory
				require.FileExists(t, vol, "%s mounts a missing file", name)
				continue
			}
			require.Contains(t, f.Volumes, vol, "%s uses an undeclared volume", name)
		}
	}
}
