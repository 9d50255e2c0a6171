package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var base = map[string]string{
	"BOT_APP_ID": "app", "BOT_APP_PASSWORD": "s3cret!", "TENANT_ID": "AAAAAAAA-0000-0000-0000-000000000001",
	"TEAMS_APP_ID": "manifest", "REDIS_URL": "redis://:hunter2@redis:6379/0",
	"API_KEYS": "ops admin sha256:" + strings.Repeat("ab", 32),
}

func withVars(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestDefaultsAreMicrosoftsCloud(t *testing.T) {
	c, err := LoadSender(env(base))
	require.NoError(t, err)
	require.Equal(t, DefaultBotServiceURL, c.BotServiceURL)
	require.Equal(t, DefaultLoginURL, c.LoginURL)
	require.Equal(t, 50.0, c.TenantRPS)
	require.Equal(t, []string{"aaaaaaaa-0000-0000-0000-000000000001"}, c.Tenants)
	d, err := LoadDispatcher(env(base))
	require.NoError(t, err)
	require.Equal(t, DefaultGraphURL, d.GraphURL)
	require.Equal(t, "127.0.0.1:8080", d.HTTPAddr)
}

func TestErrorsNameTheVariable(t *testing.T) {
	_, err := LoadInstaller(env(map[string]string{"TENANT_ID": "contoso", "GRAPH_RPS": "fast", "GRAPH_URL": "graph.local"}))
	require.Error(t, err)
	for _, want := range []string{"BOT_APP_ID: required", "BOT_APP_PASSWORD: required", "TEAMS_APP_ID: required", `TENANT_ID: "contoso" is not a GUID`, "GRAPH_RPS", "GRAPH_URL"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestAPIListensOnAnyAddress(t *testing.T) {
	// The API authenticates every request: it may listen beyond loopback.
	for addr, ok := range map[string]bool{"127.0.0.1:9000": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": true, ":8080": true, "10.0.0.5:8080": true, "8080": false, "": true} {
		d, err := LoadDispatcher(env(withVars(map[string]string{"HTTP_ADDR": addr})))
		if ok {
			require.NoError(t, err, addr)
			if addr != "" {
				require.Equal(t, addr, d.HTTPAddr)
			}
		} else {
			require.ErrorContains(t, err, "HTTP_ADDR", addr)
		}
	}
}

func TestFieldsMaskSecrets(t *testing.T) {
	c, err := LoadSender(env(base))
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	zap.New(core).Info("starting", c.Fields()...)
	line := logs.All()[0].ContextMap()
	for _, v := range line {
		s, _ := v.(string)
		require.False(t, strings.Contains(s, "s3cret") || strings.Contains(s, "hunter2"), "secret in %v", line)
	}
	require.Equal(t, "redis://:***@redis:6379/0", line["redis_url"])
}

func TestPprofIsLoopbackOnly(t *testing.T) {
	m := map[string]string{"PPROF_ADDR": "0.0.0.0:6060"}
	for k, v := range base {
		m[k] = v
	}
	_, err := LoadSender(env(m))
	require.ErrorContains(t, err, "PPROF_ADDR")
	m["PPROF_ADDR"] = "127.0.0.1:6060"
	c, err := LoadSender(env(m))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:6060", c.PprofAddr)
}

func TestAPIKeysFromFileAndInline(t *testing.T) {
	h := func(c string) string { return strings.Repeat(c, 64) }
	path := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(path, []byte("# the API's keys\nhr-system author sha256:"+h("1")+"\n\nreader viewer sha256:"+h("2")+"\n"), 0o600))
	d, err := LoadDispatcher(env(withVars(map[string]string{"API_KEYS_FILE": path,
		"API_KEYS": "ops admin sha256:" + h("3") + ";ci author sha256:" + h("4")})))
	require.NoError(t, err)
	require.Len(t, d.APIKeys, 4)
	names := []string{}
	for _, k := range d.APIKeys {
		names = append(names, k.Name+":"+k.Role.String())
	}
	require.Equal(t, []string{"hr-system:author", "reader:viewer", "ops:admin", "ci:author"}, names)
	require.Equal(t, DefaultAuditMaxEntries, d.AuditMaxEntries)

	// Logged by name and role, never by hash.
	core, logs := observer.New(zap.InfoLevel)
	zap.New(core).Info("starting", d.Fields()...)
	require.NotContains(t, fmt.Sprint(logs.All()[0].ContextMap()), h("1"))
	require.Equal(t, []any{"hr-system:author", "reader:viewer", "ops:admin", "ci:author"}, logs.All()[0].ContextMap()["api_keys"])
}

func TestAPIKeysErrors(t *testing.T) {
	m := withVars(nil)
	delete(m, "API_KEYS")
	_, err := LoadDispatcher(env(m))
	require.ErrorContains(t, err, "API_KEYS_FILE or API_KEYS: required")
	require.ErrorContains(t, err, "bcast keygen")

	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS": "# none yet"})))
	require.ErrorContains(t, err, "API_KEYS_FILE or API_KEYS: required")

	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS": "ops admin sha256:" + strings.Repeat("a", 64) + "\nbad viewer"})))
	require.ErrorContains(t, err, "API_KEYS line 2: want 3 fields")

	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS": "ops superuser sha256:" + strings.Repeat("a", 64)})))
	require.ErrorContains(t, err, `API_KEYS line 1: unknown role "superuser"`)

	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS": "ops admin sha256:" + strings.Repeat("a", 64) + ";ops viewer sha256:" + strings.Repeat("b", 64)})))
	require.ErrorContains(t, err, `key "ops": the name is given twice`)

	path := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(path, []byte("\n\nops admin bk_notahash\n"), 0o600))
	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS": "", "API_KEYS_FILE": path})))
	require.ErrorContains(t, err, "API_KEYS_FILE "+path+" line 3: the third field is a key, not its hash")
	require.NotContains(t, err.Error(), "notahash")

	_, err = LoadDispatcher(env(withVars(map[string]string{"API_KEYS_FILE": filepath.Join(t.TempDir(), "missing")})))
	require.ErrorContains(t, err, "API_KEYS_FILE: open")

	_, err = LoadDispatcher(env(withVars(map[string]string{"AUDIT_MAX_ENTRIES": "10"})))
	require.ErrorContains(t, err, "AUDIT_MAX_ENTRIES")
}

func TestMetricsAddrDefaultsPerBinaryAndOff(t *testing.T) {
	d, err := LoadDispatcher(env(base))
	require.NoError(t, err)
	in, err := LoadInstaller(env(base))
	require.NoError(t, err)
	s, err := LoadSender(env(base))
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9090", "127.0.0.1:9091", "127.0.0.1:9092"}, []string{d.MetricsAddr, in.MetricsAddr, s.MetricsAddr})

	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for addr, want := range map[string]string{":9090": ":9090", "off": "", "OFF": "", "127.0.0.1:0": "127.0.0.1:0"} {
		m["METRICS_ADDR"] = addr
		c, err := LoadSender(env(m))
		require.NoError(t, err, addr)
		require.Equal(t, want, c.MetricsAddr, addr)
	}
	m["METRICS_ADDR"] = "9090"
	_, err = LoadSender(env(m))
	require.ErrorContains(t, err, "METRICS_ADDR")
}

func TestBotEndpointDefaultsToMicrosoftsCloud(t *testing.T) {
	d, err := LoadDispatcher(env(base))
	require.NoError(t, err)
	require.Empty(t, d.Bot.Addr, "no endpoint unless BOT_ADDR is set")
	require.Equal(t, "https://login.botframework.com/v1/.well-known/openidconfiguration", d.Bot.OpenIDMetadataURL)
	require.Equal(t, "https://login.botframework.com/v1/.well-known/keys", d.Bot.JWKSURL)
	require.Equal(t, "https://api.botframework.com", d.Bot.TokenIssuer)
	require.NoError(t, d.Bot.ServiceHosts.Check("https://smba.trafficmanager.net/teams/"))
	require.NoError(t, d.Bot.ServiceHosts.Check("https://smba.infra.gov.teams.microsoft.us/teams"))

	d, err = LoadDispatcher(env(withVars(map[string]string{"BOT_ADDR": ":3978", "BOT_SERVICE_HOSTS": "127.0.0.1"})))
	require.NoError(t, err)
	require.Equal(t, ":3978", d.Bot.Addr)
	require.NoError(t, d.Bot.ServiceHosts.Check("http://127.0.0.1:8090/connector/"))

	_, err = LoadDispatcher(env(withVars(map[string]string{"BOT_ADDR": "3978", "BOT_SERVICE_HOSTS": "https://x/"})))
	require.ErrorContains(t, err, "BOT_ADDR")
	require.ErrorContains(t, err, "BOT_SERVICE_HOSTS")

	// An auto-reply is posted through a serviceUrl of the allow-list.
	d, err = LoadDispatcher(env(withVars(map[string]string{"BOT_AUTO_REPLY": " Thanks! ", "BOT_SERVICE_HOSTS": "127.0.0.1",
		"BOT_SERVICE_URL": "http://127.0.0.1:8090/connector/"})))
	require.NoError(t, err)
	require.Equal(t, "Thanks!", d.Bot.AutoReply)
	require.Equal(t, "http://127.0.0.1:8090/connector/", d.Bot.ServiceURL)
	_, err = LoadDispatcher(env(withVars(map[string]string{"BOT_AUTO_REPLY": "Thanks!", "BOT_SERVICE_HOSTS": "127.0.0.1"})))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")
}

func TestServiceURLMustBeAnAllowedHost(t *testing.T) {
	sim := map[string]string{"BOT_SERVICE_URL": "http://127.0.0.1:8090/connector/"}
	_, err := LoadSender(env(withVars(sim)))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")
	_, err = LoadInstaller(env(withVars(sim)))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")
	_, err = LoadSender(env(withVars(map[string]string{"BOT_SERVICE_URL": "https://evil.example/teams/"})))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")

	sim["BOT_SERVICE_HOSTS"] = "127.0.0.1"
	s, err := LoadSender(env(withVars(sim)))
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8090/connector/", s.BotServiceURL)
	i, err := LoadInstaller(env(withVars(sim)))
	require.NoError(t, err)
	require.Zero(t, i.ConversationWait)

	gcc := map[string]string{"BOT_SERVICE_URL": "https://smba.infra.gcc.teams.microsoft.com/teams"}
	_, err = LoadSender(env(withVars(gcc)))
	require.NoError(t, err, "the sovereign clouds are allowed by default")

	i, err = LoadInstaller(env(withVars(map[string]string{"INSTALL_CONVERSATION_WAIT": "1500ms"})))
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, i.ConversationWait)
}

func TestConsoleConfig(t *testing.T) {
	base := map[string]string{"TENANT_ID": "11111111-2222-3333-4444-555555555555", "BOT_APP_ID": "app", "BOT_APP_PASSWORD": "pw",
		"API_KEYS": "ops admin sha256:" + strings.Repeat("ab", 32), "LOGIN_URL": "http://sim/login"}
	load := func(extra map[string]string) (Dispatcher, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return LoadDispatcher(func(k string) string { return env[k] })
	}
	c, err := load(nil)
	require.NoError(t, err)
	require.Empty(t, c.Console.Addr, "no console unless CONSOLE_ADDR")

	c, err = load(map[string]string{"CONSOLE_ADDR": "127.0.0.1:8090", "CONSOLE_INSECURE_COOKIES": "true"})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8090", c.Console.URL)
	require.Equal(t, "http://sim/login/11111111-2222-3333-4444-555555555555/v2.0", c.Console.Issuer)
	require.Equal(t, "app", c.Console.ClientID)
	require.Equal(t, "pw", c.Console.ClientSecret)
	for _, f := range c.Fields() {
		require.NotEqual(t, "pw", f.String, f.Key)
	}

	_, err = load(map[string]string{"CONSOLE_ADDR": "127.0.0.1:8090"})
	require.ErrorContains(t, err, "CONSOLE_INSECURE_COOKIES=true")
	_, err = load(map[string]string{"CONSOLE_ADDR": "127.0.0.1:8090", "CONSOLE_URL": "https://console.example", "CONSOLE_INSECURE_COOKIES": "maybe"})
	require.ErrorContains(t, err, "CONSOLE_INSECURE_COOKIES: want true or false")
}

// Env reads a flag's default with the services' rules, and names each
// malformed variable.
func TestEnvForFlags(t *testing.T) {
	t.Parallel()
	e := NewEnv(env(map[string]string{"N": "40", "F": "0.5", "B": "false", "D": "25", "G": "5ms", "Z": "0",
		"BAD_N": "many", "BAD_D": "-1s", "BAD_B": "maybe"}))
	require.Equal(t, 40, e.Int("N", 1))
	require.Equal(t, 7, e.Int("UNSET", 7))
	require.Equal(t, int64(40), e.Int64("N", 1))
	require.Equal(t, 0.5, e.Float("F", 1))
	require.False(t, e.Bool("B", true))
	require.Equal(t, 25*time.Millisecond, e.Duration("D", time.Second), "a number is milliseconds")
	require.Equal(t, 5*time.Millisecond, e.Duration("G", time.Second))
	require.Zero(t, e.Duration("Z", time.Second))
	require.NoError(t, e.Err())
	require.Equal(t, 3, e.Int("BAD_N", 3))
	e.Duration("BAD_D", 0)
	e.Bool("BAD_B", false)
	err := e.Err()
	for _, name := range []string{"BAD_N", "BAD_D", "BAD_B"} {
		require.ErrorContains(t, err, name)
	}
}

func TestTenantTimeZone(t *testing.T) {
	d, err := LoadDispatcher(env(base))
	require.NoError(t, err)
	require.Equal(t, "Etc/UTC", d.TimeZone)
	for in, want := range map[string]string{"Europe/Berlin": "Europe/Berlin", "Pacific Standard Time": "America/Los_Angeles"} {
		d, err := LoadDispatcher(env(withVars(map[string]string{"TENANT_TIME_ZONE": in})))
		require.NoError(t, err, in)
		require.Equal(t, want, d.TimeZone)
	}
	_, err = LoadDispatcher(env(withVars(map[string]string{"TENANT_TIME_ZONE": "Mars/Olympus"})))
	require.ErrorContains(t, err, `TENANT_TIME_ZONE: "Mars/Olympus" is not a time zone`)
}
