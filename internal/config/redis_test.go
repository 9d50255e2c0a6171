package config

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// REDIS_URL's Sentinel and Cluster forms load, with the sentinels'
// password and a key prefix; the start-up line masks the password.
func TestRedisModes(t *testing.T) {
	c, err := LoadSender(env(with("REDIS_URL", "rediss+sentinel://:pw@s1:26379/0?master_name=main&addr=s2:26379",
		"REDIS_SENTINEL_PASSWORD", "sentinel-pw", "REDIS_PREFIX", "bc:")))
	require.NoError(t, err)
	require.Equal(t, "sentinel-pw", c.RedisSentinelPassword)
	require.Equal(t, "bc:", c.RedisPrefix)
	core, logs := observer.New(zap.InfoLevel)
	zap.New(core).Info("starting", c.Fields()...)
	line := logs.All()[0].ContextMap()
	require.Equal(t, "***", line["redis_sentinel_password"])
	require.Equal(t, "rediss+sentinel://:***@s1:26379/0?master_name=main&addr=s2:26379", line["redis_url"])

	_, err = LoadSender(env(with("REDIS_URL", "redis+cluster://n1:7000?addr=n2:7000")))
	require.NoError(t, err)
}

func TestRedisErrorsNameTheVariable(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"sentinel without master": {with("REDIS_URL", "redis+sentinel://s1:26379"), []string{"REDIS_URL", "master_name"}},
		"cluster database":        {with("REDIS_URL", "redis+cluster://n1:7000/2"), []string{"REDIS_URL", "database 0 only"}},
		"unknown mode":            {with("REDIS_URL", "redis+ring://n1:7000"), []string{"REDIS_URL", "neither sentinel nor cluster"}},
		"sentinel password alone": {with("REDIS_SENTINEL_PASSWORD", "pw"), []string{"REDIS_SENTINEL_PASSWORD", "redis+sentinel"}},
		"prefix with a brace":     {with("REDIS_PREFIX", "{app}"), []string{"REDIS_PREFIX", "braces"}},
		"TLS files, plain cluster": {with("REDIS_URL", "redis+cluster://n1:7000", "REDIS_TLS_CA_FILE", writeFile(t, "ca.pem", "x")),
			[]string{"REDIS_TLS_*_FILE", "rediss+cluster://"}},
	} {
		_, err := LoadSender(env(tc.env))
		require.Error(t, err, name)
		for _, w := range tc.want {
			require.ErrorContains(t, err, w, name)
		}
	}
}
