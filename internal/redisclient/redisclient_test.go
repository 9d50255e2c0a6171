package redisclient_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url        string
		mode       redisclient.Mode
		addrs      []string
		master     string
		db         int
		password   string
		tls        bool
		wantErrHas string
	}{
		{url: "redis://127.0.0.1:6379/2", mode: redisclient.Single, addrs: []string{"127.0.0.1:6379"}, db: 2},
		{url: "rediss://:pw@redis.example:6380/0", mode: redisclient.Single, addrs: []string{"redis.example:6380"}, password: "pw", tls: true},
		{url: "redis+sentinel://:pw@s1:26379/1?master_name=mymaster&addr=s2:26379", mode: redisclient.Sentinel,
			addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster", db: 1, password: "pw"},
		{url: "rediss+sentinel://s1:26379?master_name=m", mode: redisclient.Sentinel, addrs: []string{"s1:26379"}, master: "m", tls: true},
		{url: "redis+cluster://:pw@n1:7000?addr=n2:7001&addr=n3:7002", mode: redisclient.Cluster,
			addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, password: "pw"},
		{url: "rediss+cluster://n1:7000/0", mode: redisclient.Cluster, addrs: []string{"n1:7000"}, tls: true},
		{url: "redis+sentinel://s1:26379", wantErrHas: "master_name is missing"},
		{url: "redis+cluster://n1:7000/3", wantErrHas: "database 0 only"},
		{url: "redis+shard://n1:7000", wantErrHas: "neither sentinel nor cluster"},
		{url: "http://n1:7000", wantErrHas: "scheme \"http\""},
		{url: "127.0.0.1:6379", wantErrHas: "not a URL"},
		{url: "redis+cluster://n1:7000?bogus=1", wantErrHas: "bogus"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o, err := redisclient.ParseURL(tc.url)
			if tc.wantErrHas != "" {
				require.ErrorContains(t, err, tc.wantErrHas)
				require.ErrorContains(t, err, "REDIS_URL")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, o.Mode)
			require.Equal(t, tc.addrs, o.Universal.Addrs)
			require.Equal(t, tc.master, o.Universal.MasterName)
			require.Equal(t, tc.db, o.Universal.DB)
			require.Equal(t, tc.password, o.Universal.Password)
			require.Equal(t, tc.tls, o.Universal.TLSConfig != nil)
		})
	}
}

// Each mode's URL gives the client of that mode, which reaches the data:
// through the sentinel, the master (a write there is read back from it
// directly); on the cluster, keys of any slot.
func TestConnectModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		s, err := devenv.NewRedisSentinel(ctx, "")
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })

		rdb, err := redisclient.Connect(ctx, s.URL())
		require.NoError(t, err)
		defer rdb.Close()
		require.NoError(t, rdb.Set(ctx, "through-sentinel", "yes", 0).Err())
		master := redis.NewClient(&redis.Options{Addr: s.Master()})
		defer master.Close()
		require.Equal(t, "yes", master.Get(ctx, "through-sentinel").Val())
	})

	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c, err := devenv.NewRedisCluster(ctx, "")
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, c.Close()) })

		rdb, err := redisclient.Connect(ctx, c.URL())
		require.NoError(t, err)
		defer rdb.Close()
		_, ok := rdb.(*redis.ClusterClient)
		require.True(t, ok, "a redis+cluster URL gives a cluster client")
		// Keys spread over the three masters: each is stored on the
		// master that owns its slot, and read back through the client.
		owners := map[string]bool{}
		for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			require.NoError(t, rdb.Set(ctx, k, k, 0).Err())
			require.Equal(t, k, rdb.Get(ctx, k).Val())
			slot, err := rdb.ClusterKeySlot(ctx, k).Result()
			require.NoError(t, err)
			owners[ownerOf(t, rdb.(*redis.ClusterClient), slot)] = true
		}
		require.Len(t, owners, 3, "eight keys land on every master")
	})
}

func ownerOf(t *testing.T, c *redis.ClusterClient, slot int64) string {
	t.Helper()
	slots, err := c.ClusterSlots(context.Background()).Result()
	require.NoError(t, err)
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no owner of slot %d", slot)
	return ""
}
