package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/devenv"
)

const (
	// startTimeout bounds the start of a shared server; a container may
	// have to pull its image first.
	startTimeout = 2 * time.Minute
	// localRedisAddr is where a developer's own Redis usually listens.
	localRedisAddr = "127.0.0.1:6379"
	// localRedisTimeout is how long a Redis at localRedisAddr may take to
	// answer before the next way is tried.
	localRedisTimeout = 300 * time.Millisecond
)

// server is a server shared by every test of the binary, found or started
// once, on first use, and stopped by Main once every test has run.
type server struct {
	once sync.Once
	url  string
	stop func()
	err  error
}

func (s *server) get(t testing.TB, what string, start func(context.Context) (string, func(), error)) string {
	t.Helper()
	s.once.Do(func() {
		// Not the test's context: the server outlives the test that
		// happens to start it.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		s.url, s.stop, s.err = start(ctx)
	})
	if s.err != nil {
		t.Fatalf("testenv: no %s for tests: %v", what, s.err)
	}
	return s.url
}

var sharedNATS, sharedRedis server

// NATS returns the URL of a NATS server with JetStream: NATS_URL if set
// (checked), else an embedded server shared by every test of the binary.
// The test fails if there is none.
func NATS(t testing.TB) string {
	t.Helper()
	return sharedNATS.get(t, "NATS", func(ctx context.Context) (string, func(), error) {
		opts := devenv.NATSOptions{URL: os.Getenv("NATS_URL")}
		if opts.URL == "" {
			dir, err := processDir("nats")
			if err != nil {
				return "", nil, err
			}
			opts.StoreDir = dir
			// TEST_NATS_SYNC measures what the fsync setting costs.
			if opts.SyncInterval, opts.SyncAlways, err = devenv.ParseSync(os.Getenv("TEST_NATS_SYNC")); err != nil {
				return "", nil, fmt.Errorf("TEST_NATS_SYNC: %w", err)
			}
		}
		return devenv.StartNATS(ctx, opts)
	})
}

// Redis returns the URL of a Redis: REDIS_URL if set (checked); else,
// with REDIS_MODE=cluster, a three-master Redis Cluster of redis-server
// children; else the one on 127.0.0.1:6379 if it answers PING within
// 300 ms, else a redis-server child or a redis:7 container. It is shared
// by every test of the binary. The test fails, saying how to get a Redis,
// if there is none.
func Redis(t testing.TB) string {
	t.Helper()
	return sharedRedis.get(t, "Redis", func(ctx context.Context) (string, func(), error) {
		if u := os.Getenv("REDIS_URL"); u != "" {
			return devenv.StartRedis(ctx, devenv.RedisOptions{URL: u})
		}
		switch mode := os.Getenv("REDIS_MODE"); mode {
		case "", "single":
		case "cluster":
			return startCluster(ctx)
		default:
			return "", nil, fmt.Errorf("REDIS_MODE: %q: want single or cluster", mode)
		}
		if url, ok := localRedis(ctx); ok {
			return url, func() {}, nil
		}
		dir, err := processDir("redis")
		if err != nil {
			return "", nil, err
		}
		return devenv.StartRedis(ctx, devenv.RedisOptions{Dir: dir, Logger: zap.NewNop()})
	})
}

func startCluster(ctx context.Context) (string, func(), error) {
	dir, err := processDir("rediscluster")
	if err != nil {
		return "", nil, err
	}
	c, err := devenv.NewRedisCluster(ctx, dir)
	if err != nil {
		return "", nil, err
	}
	return c.URL(), func() { _ = c.Close() }, nil
}

// localRedis reports whether a Redis on localRedisAddr answers PING at once.
func localRedis(ctx context.Context) (string, bool) {
	// A refused dial is the common case on a machine without one: find it
	// out without the Redis client, which logs each refusal.
	conn, err := net.DialTimeout("tcp", localRedisAddr, localRedisTimeout)
	if err != nil {
		return "", false
	}
	_ = conn.Close()
	ctx, cancel := context.WithTimeout(ctx, localRedisTimeout)
	defer cancel()
	url := "redis://" + localRedisAddr + "/0"
	if _, _, err := devenv.StartRedis(ctx, devenv.RedisOptions{URL: url}); err != nil {
		return "", false
	}
	return url, true
}
