package botauth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServiceHosts(t *testing.T) {
	t.Parallel()
	def := DefaultHosts()
	for _, ok := range []string{"https://smba.trafficmanager.net/teams/", "https://smba.trafficmanager.net/amer/",
		"https://smba.infra.gcc.teams.microsoft.com/teams", "https://SMBA.infra.dod.teams.microsoft.us/teams"} {
		require.NoError(t, def.Check(ok), ok)
	}
	for _, bad := range []string{"http://smba.trafficmanager.net/teams/", "https://evil.example/teams/",
		"https://smba.trafficmanager.net.evil.example/", "https://user@smba.trafficmanager.net/", "ftp://smba.trafficmanager.net/",
		"/teams/", "", "http://127.0.0.1:8090/connector/"} {
		require.Error(t, def.Check(bad), bad)
	}

	local, err := ParseServiceHosts("127.0.0.1, http://teamsim:8090")
	require.NoError(t, err)
	require.NoError(t, local.Check("http://127.0.0.1:8090/connector/"))
	require.NoError(t, local.Check("http://127.0.0.1:1234/connector/"))
	require.NoError(t, local.Check("http://teamsim:8090/connector/"))
	require.Error(t, local.Check("http://teamsim:9999/connector/"))
	require.Error(t, local.Check("https://smba.trafficmanager.net/teams/"))
	require.Equal(t, "127.0.0.1,http://teamsim:8090", local.String())

	plain, err := ParseServiceHosts("teamsim")
	require.NoError(t, err)
	require.Error(t, plain.Check("http://teamsim/connector/"), "a non-loopback host is https only")

	for _, bad := range []string{"", " , ", "https://smba.trafficmanager.net", "host:443", "http://", "http://h/path"} {
		_, err := ParseServiceHosts(bad)
		require.Error(t, err, bad)
	}
}
