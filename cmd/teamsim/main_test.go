package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func TestParse(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"BOT_APP_ID": "app", "BOT_APP_PASSWORD": "secret", "TEAMS_APP_ID": "manifest",
		"SIM_USERS": "2000", "SIM_INSTALLED": "0.5", "SIM_TENANTS": "t1, t2", "SIM_LATENCY": "25", "SIM_CONNECTOR_RPS": "40",
	}
	getenv := func(k string) string { return env[k] }

	o, err := parse([]string{"-connector-rps", "70", "-jitter", "5ms"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"t1", "t2"}, o.sim.Tenants)
	require.Equal(t, 2000, o.sim.UsersPerTenant)
	require.Equal(t, 0.5, o.sim.InstalledFraction)
	require.Equal(t, 70, o.sim.ConnectorRPS, "the flag wins over SIM_CONNECTOR_RPS")
	require.Equal(t, 25*time.Millisecond, o.sim.Latency, "a plain number is milliseconds")
	require.Equal(t, 5*time.Millisecond, o.sim.LatencyJitter)
	require.Equal(t, 30, o.sim.GraphRPS)
	require.True(t, o.sim.ConversationLimits)
	require.Equal(t, "127.0.0.1:8090", o.addr)
	require.Empty(t, o.sim.PublicURL, "derived from the listen address unless given")
	require.Equal(t, teamsim.DefaultNetworkJitter, o.sim.NetworkJitter)
	require.Equal(t, teamsim.DefaultRetryAfterTolerance, o.sim.RetryAfterTolerance)

	env["SIM_PUBLIC_URL"] = "http://teamsim:8090"
	o, err = parse(nil, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://teamsim:8090", o.sim.PublicURL)
	o, err = parse([]string{"-public-url", "http://sim:9000"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://sim:9000", o.sim.PublicURL, "the flag wins over SIM_PUBLIC_URL")
	delete(env, "SIM_PUBLIC_URL")

	require.Zero(t, o.sim.Engagement.Read, "users do nothing unless asked")
	require.Equal(t, teamsim.DefaultTimeZones, o.sim.TimeZones)
	env["SIM_READ"], env["SIM_READ_DELAY"], env["SIM_RECEIPTS_ON"], env["SIM_ACKNOWLEDGE"] = "0.8", "1s..30s", "0.9", "0.5"
	env["SIM_REACT"], env["SIM_REPLY"], env["SIM_TIME_ZONES"] = "0.1", "0.02", "Pacific Standard Time, ,Europe/Berlin"
	o, err = parse([]string{"-action-delay", "exp:3s"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, teamsim.Engagement{Read: 0.8, ReadDelay: teamsim.Delay{Min: time.Second, Max: 30 * time.Second}, ReceiptsOn: 0.9,
		Acknowledge: 0.5, React: 0.1, Reply: 0.02, ActionDelay: teamsim.Delay{Mean: 3 * time.Second},
		InvokeDeadline: teamsim.DefaultInvokeDeadline, Concurrency: 16}, o.sim.Engagement)
	require.Equal(t, []string{"Pacific Standard Time", "", "Europe/Berlin"}, o.sim.TimeZones)
	env["SIM_READ_DELAY"] = "soon"
	_, err = parse(nil, getenv, io.Discard)
	require.ErrorContains(t, err, "SIM_READ_DELAY")
	for _, k := range []string{"SIM_READ", "SIM_READ_DELAY", "SIM_RECEIPTS_ON", "SIM_ACKNOWLEDGE", "SIM_REACT", "SIM_REPLY", "SIM_TIME_ZONES"} {
		delete(env, k)
	}

	env["SIM_USERS"] = "many"
	_, err = parse(nil, getenv, io.Discard)
	require.ErrorContains(t, err, "SIM_USERS")

	_, err = parse(nil, func(string) string { return "" }, io.Discard)
	require.ErrorContains(t, err, "BOT_APP_ID")
	require.ErrorContains(t, err, "TEAMS_APP_ID")
}

// By default the simulator answers like Teams: 100 ms ±50%, a few ms of
// network jitter; `-latency 0 -jitter 0 -network-jitter 0` turns it off.
func TestParseRealisticTiming(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BOT_APP_ID": "app", "BOT_APP_PASSWORD": "secret", "TEAMS_APP_ID": "manifest"}
	getenv := func(k string) string { return env[k] }
	o, err := parse(nil, getenv, io.Discard)
	require.NoError(t, err)
	want := teamsim.Config{}.Realistic()
	require.Equal(t, want.Latency, o.sim.Latency)
	require.Equal(t, want.LatencyJitter, o.sim.LatencyJitter)
	require.Equal(t, want.NetworkJitter, o.sim.NetworkJitter)
	require.Equal(t, want.ChatReadyDelay, o.sim.ChatReadyDelay)
	require.Equal(t, want.ChatReadyJitter, o.sim.ChatReadyJitter)
	require.Equal(t, 100*time.Millisecond, o.sim.Latency+o.sim.LatencyJitter/2, "a mean of 100 ms")

	o, err = parse([]string{"-latency", "0", "-jitter", "0", "-network-jitter", "0"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Zero(t, o.sim.Latency+o.sim.LatencyJitter+o.sim.NetworkJitter)
	env["SIM_LATENCY"], env["SIM_LATENCY_JITTER"], env["SIM_NETWORK_JITTER"] = "0", "0", "0"
	o, err = parse(nil, getenv, io.Discard)
	require.NoError(t, err)
	require.Zero(t, o.sim.Latency+o.sim.LatencyJitter+o.sim.NetworkJitter)
}

// The simulator reads the bot's password from BOT_APP_PASSWORD_FILE, as the
// services do (the compose file's secrets).
func TestParsePasswordFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bot_app_password")
	require.NoError(t, os.WriteFile(path, []byte("filed\n"), 0o600))
	env := map[string]string{"BOT_APP_ID": "app", "BOT_APP_PASSWORD_FILE": path, "TEAMS_APP_ID": "manifest"}
	o, err := parse(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "filed", o.sim.BotAppPassword)

	env["BOT_APP_PASSWORD_FILE"] = path + ".missing"
	_, err = parse(nil, func(k string) string { return env[k] }, io.Discard)
	require.ErrorContains(t, err, "BOT_APP_PASSWORD_FILE")
}

// What teamsim prints: the public URL when given (a container's name),
// else the listen address as a client here reaches it; and a
// BOT_SERVICE_HOSTS entry that allows the printed Connector URL.
func TestAdvertised(t *testing.T) {
	t.Parallel()
	wildcard := &net.TCPAddr{IP: net.IPv4zero, Port: 8090}
	for _, tc := range []struct {
		public      string
		addr        net.Addr
		base, hosts string
	}{
		{"", wildcard, "http://127.0.0.1:8090", "127.0.0.1"},
		{"", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18090}, "http://127.0.0.1:18090", "127.0.0.1"},
		{"", &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8090}, "http://10.1.2.3:8090", "http://10.1.2.3:8090"},
		{"http://teamsim:8090/", wildcard, "http://teamsim:8090", "http://teamsim:8090"},
		{"https://Sim.Example.com", wildcard, "https://Sim.Example.com", "sim.example.com"},
	} {
		base, hosts := advertised(tc.public, tc.addr)
		require.Equal(t, tc.base, base, tc.public)
		require.Equal(t, tc.hosts, hosts, tc.public)
		allow, err := botauth.ParseServiceHosts(hosts)
		require.NoError(t, err)
		require.NoError(t, allow.Check(base+"/connector/"), "the printed BOT_SERVICE_HOSTS allows the printed BOT_SERVICE_URL")
	}
}
