package config

import (
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

func TestAPIListensOnLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:9000": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "10.0.0.5:8080": false, "8080": false} {
		m := map[string]string{"HTTP_ADDR": addr}
		for k, v := range base {
			m[k] = v
		}
		_, err := LoadDispatcher(env(m))
		if ok {
			require.NoError(t, err, addr)
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

func with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
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

	d, err = LoadDispatcher(env(with(map[string]string{"BOT_ADDR": ":3978", "BOT_SERVICE_HOSTS": "127.0.0.1"})))
	require.NoError(t, err)
	require.Equal(t, ":3978", d.Bot.Addr)
	require.NoError(t, d.Bot.ServiceHosts.Check("http://127.0.0.1:8090/connector/"))

	_, err = LoadDispatcher(env(with(map[string]string{"BOT_ADDR": "3978", "BOT_SERVICE_HOSTS": "https://x/"})))
	require.ErrorContains(t, err, "BOT_ADDR")
	require.ErrorContains(t, err, "BOT_SERVICE_HOSTS")
}

func TestServiceURLMustBeAnAllowedHost(t *testing.T) {
	sim := map[string]string{"BOT_SERVICE_URL": "http://127.0.0.1:8090/connector/"}
	_, err := LoadSender(env(with(sim)))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")
	_, err = LoadInstaller(env(with(sim)))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")
	_, err = LoadSender(env(with(map[string]string{"BOT_SERVICE_URL": "https://evil.example/teams/"})))
	require.ErrorContains(t, err, "BOT_SERVICE_URL")

	sim["BOT_SERVICE_HOSTS"] = "127.0.0.1"
	s, err := LoadSender(env(with(sim)))
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8090/connector/", s.BotServiceURL)
	i, err := LoadInstaller(env(with(sim)))
	require.NoError(t, err)
	require.Zero(t, i.ConversationWait)

	gcc := map[string]string{"BOT_SERVICE_URL": "https://smba.infra.gcc.teams.microsoft.com/teams"}
	_, err = LoadSender(env(with(gcc)))
	require.NoError(t, err, "the sovereign clouds are allowed by default")

	i, err = LoadInstaller(env(with(map[string]string{"INSTALL_CONVERSATION_WAIT": "1500ms"})))
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, i.ConversationWait)
}
