package teamsim

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	valid := Config{BotAppID: testBotAppID, BotAppPassword: testBotSecret, TeamsAppID: testTeamsAppID}

	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no bot app id", func(c *Config) { c.BotAppID = "" }, "BotAppID"},
		{"no password", func(c *Config) { c.BotAppPassword = "" }, "BotAppPassword"},
		{"no teams app id", func(c *Config) { c.TeamsAppID = " " }, "TeamsAppID"},
		{"negative users", func(c *Config) { c.UsersPerTenant = -1 }, "UsersPerTenant"},
		{"installed over 1", func(c *Config) { c.InstalledFraction = 1.5 }, "InstalledFraction"},
		{"blocked negative", func(c *Config) { c.BlockedFraction = -0.1 }, "BlockedFraction"},
		{"disabled NaN", func(c *Config) { c.DisabledFraction = math.NaN() }, "DisabledFraction"},
		{"error rate", func(c *Config) { c.ErrorRate = 2 }, "ErrorRate"},
		{"rates sum", func(c *Config) { c.ErrorRate, c.PreconditionRate = 0.6, 0.6 }, "ErrorRate+PreconditionRate"},
		{"connector rps", func(c *Config) { c.ConnectorRPS = -1 }, "ConnectorRPS"},
		{"graph rps", func(c *Config) { c.GraphRPS = -5 }, "GraphRPS"},
		{"token ttl", func(c *Config) { c.TokenTTL = time.Millisecond }, "TokenTTL"},
		{"latency", func(c *Config) { c.Latency = -time.Second }, "Latency"},
		{"slow rate", func(c *Config) { c.SlowRate = 1.1 }, "SlowRate"},
		{"slow latency", func(c *Config) { c.SlowLatency = -time.Second }, "SlowLatency"},
		{"jitter", func(c *Config) { c.LatencyJitter = -time.Second }, "LatencyJitter"},
		{"empty tenant", func(c *Config) { c.Tenants = []string{""} }, "Tenants[0]"},
		{"duplicate tenant", func(c *Config) { c.Tenants = []string{"a", "A"} }, "Tenants[1]"},
		{"botframework tenant", func(c *Config) { c.Tenants = []string{"botframework.com"} }, "Tenants[0]"},
		{"slash in tenant", func(c *Config) { c.Tenants = []string{"a/b"} }, "Tenants[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tc.edit(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.field)
		})
	}

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		s, err := New(valid)
		require.NoError(t, err)
		require.Len(t, s.Users(DefaultTenant), defaultUsersPerTenant)
		require.Equal(t, defaultTokenTTL, s.cfg.TokenTTL)
	})

	t.Run("every problem at once", func(t *testing.T) {
		t.Parallel()
		_, err := New(Config{InstalledFraction: 2})
		require.Error(t, err)
		for _, field := range []string{"BotAppID", "BotAppPassword", "TeamsAppID", "InstalledFraction"} {
			require.Contains(t, err.Error(), field)
		}
	})
}
