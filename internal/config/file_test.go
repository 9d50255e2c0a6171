package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// with returns base plus the given variables; an empty value removes one.
func with(kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// A secret mounted as a file (Docker or Kubernetes secrets) is read
// through NAME_FILE, its trailing newline dropped; the start-up line masks
// it as it masks the variable.
func TestSecretsFromFiles(t *testing.T) {
	pw := writeFile(t, "bot_app_password", "from-a-file!\n")
	redisURL := writeFile(t, "redis_url", "redis://:filed-pw@redis:6379/0\n")
	c, err := LoadSender(env(with("BOT_APP_PASSWORD", "", "BOT_APP_PASSWORD_FILE", pw,
		"REDIS_URL", "", "REDIS_URL_FILE", redisURL)))
	require.NoError(t, err)
	require.Equal(t, "from-a-file!", c.BotAppPassword)
	require.Equal(t, "redis://:filed-pw@redis:6379/0", c.RedisURL)

	core, logs := observer.New(zap.InfoLevel)
	zap.New(core).Info("starting", c.Fields()...)
	line := logs.All()[0].ContextMap()
	for k, v := range line {
		s, _ := v.(string)
		require.False(t, strings.Contains(s, "from-a-file") || strings.Contains(s, "filed-pw"), "secret in %s: %v", k, line)
	}
	require.Equal(t, "***", line["bot_app_password"])
	require.Equal(t, "redis://:***@redis:6379/0", line["redis_url"])

	// Any variable may come from a file: the mechanism is generic.
	tenants := writeFile(t, "tenants", "AAAAAAAA-0000-0000-0000-000000000002\n")
	c, err = LoadSender(env(with("TENANT_ID", "", "TENANT_ID_FILE", tenants)))
	require.NoError(t, err)
	require.Equal(t, []string{"aaaaaaaa-0000-0000-0000-000000000002"}, c.Tenants)
}

// Both a variable and its _FILE is ambiguous; an unreadable file is named
// with its variable. Neither error shows a secret.
func TestSecretFileErrors(t *testing.T) {
	pw := writeFile(t, "pw", "file-secret")
	_, err := LoadSender(env(with("BOT_APP_PASSWORD_FILE", pw)))
	require.ErrorContains(t, err, "BOT_APP_PASSWORD and BOT_APP_PASSWORD_FILE are both set")
	require.NotContains(t, err.Error(), "s3cret")
	require.NotContains(t, err.Error(), "file-secret")

	missing := filepath.Join(t.TempDir(), "nope")
	_, err = LoadSender(env(with("BOT_APP_PASSWORD", "", "BOT_APP_PASSWORD_FILE", missing)))
	require.ErrorContains(t, err, "BOT_APP_PASSWORD_FILE: open "+missing)
	require.NotContains(t, err.Error(), "BOT_APP_PASSWORD: required", "one error for one mistake")

	dir := t.TempDir()
	_, err = LoadSender(env(with("BOT_APP_PASSWORD", "", "BOT_APP_PASSWORD_FILE", dir)))
	require.ErrorContains(t, err, "BOT_APP_PASSWORD_FILE")
	require.ErrorContains(t, err, dir)

	// An empty file is an empty value: the variable is still required.
	empty := writeFile(t, "empty", "\n")
	_, err = LoadSender(env(with("BOT_APP_PASSWORD", "", "BOT_APP_PASSWORD_FILE", empty)))
	require.ErrorContains(t, err, "BOT_APP_PASSWORD: required")
}

func TestLookup(t *testing.T) {
	path := writeFile(t, "v", "  line one\nline two\r\n")
	v, err := Lookup(env(map[string]string{"X_FILE": path}), "X")
	require.NoError(t, err)
	require.Equal(t, "line one\nline two", v, "inner lines kept, surrounding space dropped")
	v, err = Lookup(env(map[string]string{"X": " inline "}), "X")
	require.NoError(t, err)
	require.Equal(t, "inline", v)
	v, err = Lookup(env(nil), "X")
	require.NoError(t, err)
	require.Empty(t, v)
}

// API_KEYS_FILE names the API's key file, which the dispatcher reads along
// with API_KEYS inline: reading API_KEYS does not take it a second time.
func TestAPIKeysFileIsItsOwn(t *testing.T) {
	keys := writeFile(t, "api_keys", "ops admin sha256:00\n")
	r := &reader{getenv: env(map[string]string{"API_KEYS_FILE": keys})}
	require.Empty(t, r.str("API_KEYS", ""))
	require.Equal(t, keys, r.str("API_KEYS_FILE", ""))
	require.NoError(t, r.err())
}
