package devenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	require.NoError(t, err)
	// Some tests expect a refusal: one quick try, not a retry loop.
	o.MaxRetries, o.DialerRetries = -1, 1
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestRedisServerRestartKeepsAOF(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	r, err := NewRedisServer(ctx, dir, true)
	require.NoError(t, err)
	defer r.Close()
	url := r.URL()
	require.Regexp(t, `^redis://127\.0\.0\.1:\d+/0$`, url)

	rdb := redisClient(t, url)
	for i := range 100 {
		require.NoError(t, rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err())
	}

	require.NoError(t, r.Stop())
	require.Error(t, rdb.Ping(ctx).Err(), "a stopped server must not answer")

	require.NoError(t, r.Start(ctx))
	require.Equal(t, url, r.URL(), "restart must keep the port")
	for i := range 100 {
		v, err := rdb.Get(ctx, fmt.Sprintf("k%d", i)).Int()
		require.NoError(t, err)
		require.Equal(t, i, v)
	}
	require.FileExists(t, filepath.Join(dir, redisLogName))
}

func TestRedisServerWithoutAOFKeepsNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, err := NewRedisServer(ctx, "", false)
	require.NoError(t, err)
	dir := r.Dir()
	rdb := redisClient(t, r.URL())
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())

	require.NoError(t, r.Stop())
	require.NoError(t, r.Start(ctx))
	require.ErrorIs(t, rdb.Get(ctx, "k").Err(), redis.Nil)

	require.NoError(t, r.Close())
	require.NoDirExists(t, dir)
}

func TestRedisServerStartOnTakenPort(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	other, err := NewRedisServer(ctx, "", false)
	require.NoError(t, err)
	defer other.Close()

	// As after a Stop during which someone else took the port.
	r := &RedisServer{bin: other.bin, dir: t.TempDir(), port: other.port}
	require.ErrorIs(t, r.Start(ctx), errPortTaken)
}

func TestStartRedisStartsServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "redis")
	url, stop, err := StartRedis(t.Context(), RedisOptions{Dir: dir, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	rdb := redisClient(t, url)
	require.NoError(t, rdb.Ping(t.Context()).Err())

	// The URL of a running server passes the check.
	got, stop2, err := StartRedis(t.Context(), RedisOptions{URL: url})
	require.NoError(t, err)
	stop2()
	require.Equal(t, url, got)

	stop()
	require.Error(t, rdb.Ping(t.Context()).Err(), "stop must stop the server")
	require.DirExists(t, dir, "a dir the caller named must stay")
	log, err := os.ReadFile(filepath.Join(dir, redisLogName))
	require.NoError(t, err)
	require.Contains(t, string(log), "Ready to accept connections")
}

func TestStartRedisBadURL(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	require.NoError(t, err)

	_, _, err = StartRedis(t.Context(), RedisOptions{URL: fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", port)})
	require.ErrorContains(t, err, fmt.Sprintf("redis at redis://:xxxxx@127.0.0.1:%d/0 does not answer PING", port))
	require.NotContains(t, err.Error(), "s3cret")

	_, _, err = StartRedis(t.Context(), RedisOptions{URL: "http://127.0.0.1:6379"})
	require.ErrorContains(t, err, "redis URL http://127.0.0.1:6379")
}

func TestDockerCheckIsBounded(t *testing.T) {
	t.Parallel()
	start := time.Now()
	err := dockerHealthy(context.Background())
	elapsed := time.Since(start)
	t.Logf("docker engine: %v (%s)", err, elapsed)
	require.Less(t, elapsed, dockerCheckTimeout+500*time.Millisecond)
}

func TestStartRedisNoneAvailable(t *testing.T) {
	// Not parallel: it changes the environment.
	t.Setenv("PATH", t.TempDir())
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	start := time.Now()
	_, _, err := StartRedis(t.Context(), RedisOptions{})
	require.Error(t, err)
	require.Less(t, time.Since(start), dockerCheckTimeout+500*time.Millisecond)
	for _, want := range []string{"apt-get install redis-server", "REDIS_URL", "Docker"} {
		require.ErrorContains(t, err, want)
	}
	t.Log(err)
}
