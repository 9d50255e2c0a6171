// Package compose holds the Docker Compose files; its test checks them where
// no compose tool is installed.
package compose

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The development compose file starts NATS with JetStream on file storage and
// Redis with an append-only file, both on the host's loopback only.
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
	require.Contains(t, nats.Command, "-js")
	require.Contains(t, nats.Command, "-sd")
	redis := f.Services["redis"]
	require.Contains(t, strings.Join(redis.Command, " "), "--appendonly yes")

	for name, s := range f.Services {
		require.NotEmpty(t, s.Ports, name)
		for _, p := range s.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s beyond loopback", name, p)
		}
		for _, v := range s.Volumes {
			vol := strings.SplitN(v, ":", 2)[0]
			require.Contains(t, f.Volumes, vol, "%s uses an undeclared volume", name)
		}
	}
}
