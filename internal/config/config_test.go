package config

import (
	"strings"
	"testing"

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
