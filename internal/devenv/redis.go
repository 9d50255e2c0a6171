package devenv

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// redisCheckTimeout bounds the PING of a Redis given by URL.
const redisCheckTimeout = 3 * time.Second

// RedisOptions says which Redis to use or how to start one.
type RedisOptions struct {
	// URL of a running Redis to use (redis://host:port/db). Empty starts one.
	URL string
	// AOF turns the append-only file on in a started server, fsynced before
	// every answer (appendfsync always, as docs/OPERATIONS.md chooses);
	// off, it keeps nothing on disk.
	AOF bool
	// Dir is a started redis-server's data and log directory. Empty uses a
	// fresh temporary directory, removed on stop. A container ignores it.
	Dir string
	// Logger says what was started and where. Nil says nothing.
	Logger *zap.Logger
}

// StartRedis returns the URL of a Redis and a function that stops what
// StartRedis started (nothing, when opts.URL is set). Without a URL it
// starts redis-server if the binary is on PATH, else a redis:7 container if
// a Docker engine answers, else it fails with how to get a Redis.
func StartRedis(ctx context.Context, opts RedisOptions) (string, func(), error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("devenv")
	if opts.URL != "" {
		if err := checkRedis(ctx, opts.URL); err != nil {
			return "", nil, err
		}
		return opts.URL, func() {}, nil
	}

	if _, err := exec.LookPath("redis-server"); err == nil {
		r, err := NewRedisServer(ctx, opts.Dir, opts.AOF)
		if err != nil {
			return "", nil, err
		}
		log.Info("started redis-server", zap.String("url", r.URL()), zap.String("dir", r.Dir()), zap.Bool("aof", opts.AOF))
		return r.URL(), func() {
			if err := r.Close(); err != nil {
				log.Warn("stop redis-server", zap.Error(err))
			}
		}, nil
	}

	dockerErr := dockerHealthy(ctx)
	if dockerErr == nil {
		url, stop, err := startRedisContainer(ctx, opts.AOF)
		if err != nil {
			return "", nil, err
		}
		log.Info("started redis container", zap.String("url", url), zap.Bool("aof", opts.AOF))
		return url, stop, nil
	}
	return "", nil, fmt.Errorf("no Redis: redis-server is not on PATH and no Docker engine answers (%v); "+
		"install redis-server (e.g. `apt-get install redis-server`), "+
		"or set REDIS_URL to a running Redis 7 (e.g. redis://127.0.0.1:6379/0), or start Docker", dockerErr)
}

// checkRedis PINGs the Redis at rawURL (any form redisclient takes: a
// cluster's every master).
func checkRedis(ctx context.Context, rawURL string) error {
	shown := redactURL(rawURL)
	o, err := redisclient.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("redis URL %s: %w", shown, err)
	}
	u := o.Universal
	u.DialTimeout = time.Second
	u.MaxRetries = -1
	u.DialerRetries = 1
	rdb := redis.NewUniversalClient(&u)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	defer cancel()
	if err := redisclient.Ping(ctx, rdb); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", redisCheckTimeout, err)
		}
		return fmt.Errorf("redis at %s does not answer PING: %w", shown, err)
	}
	return nil
}
