package devenv

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// Killing the master that holds a key hands it to its replica: what was
// written before is read back through the same URL, writes go on, and the
// dead node comes back as a replica, ready for the next failover.
func TestRedisHAFailover(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name  string
		start func(context.Context, string) (*RedisHA, error)
	}{
		{"sentinel", NewRedisSentinelHA},
		{"cluster", NewRedisClusterHA},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h, err := mode.start(ctx, t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, h.Close()) })
			rdb, err := redisclient.Connect(ctx, h.URL())
			require.NoError(t, err)
			defer rdb.Close()

			const key = "{b:failover}:n"
			for round := 1; round <= 2; round++ {
				require.NoError(t, rdb.Incr(ctx, key).Err())
				// WAIT: the replica has it before the master dies (the
				// asynchronous replication would otherwise lose it).
				n, err := waitOn(ctx, rdb, key)
				require.NoError(t, err)
				require.Equal(t, 1, n, "round %d: replicas that acknowledged", round)

				dead, err := h.KillMaster(ctx, key)
				require.NoError(t, err, "round %d", round)
				got, err := rdb.Get(ctx, key).Int()
				require.NoError(t, err, "round %d: read after the failover", round)
				require.Equal(t, round, got, "round %d", round)
				require.NoError(t, h.Restart(ctx, dead), "round %d", round)
			}
		})
	}
}

// waitOn runs WAIT 1 on the master that holds key: a cluster client sends
// a keyless command to a random master.
func waitOn(ctx context.Context, rdb redis.UniversalClient, key string) (int, error) {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return 0, err
		}
		return m.Do(ctx, "WAIT", 1, 5000).Int()
	}
	return rdb.Do(ctx, "WAIT", 1, 5000).Int()
}
