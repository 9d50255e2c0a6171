package devenv

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// dockerCheckTimeout bounds the question "does a Docker engine answer?", so
// that a machine without one falls through to the error at once.
const dockerCheckTimeout = 2 * time.Second

// dockerHealthy returns nil when a Docker engine answers testcontainers'
// own health check.
func dockerHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dockerCheckTimeout)
	defer cancel()
	// NewDockerProvider takes no context; the goroutine lets us stop
	// waiting for it, and it ends by itself once Health sees ctx end.
	done := make(chan error, 1)
	go func() {
		// Some testcontainers paths panic when they find no Docker host.
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("no Docker host: %v", r)
			}
		}()
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			done <- err
			return
		}
		done <- p.Health(ctx) // Health closes the provider
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("testcontainers: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("docker engine: %w", ctx.Err())
	}
}

// startRedisContainer runs redis:7 and returns its URL (database 0) and a
// function that removes the container.
func startRedisContainer(ctx context.Context, aof bool) (string, func(), error) {
	var opts []testcontainers.ContainerCustomizer
	if aof { // as a redis-server child: see startRedisProc
		opts = append(opts, testcontainers.WithCmdArgs("--appendonly", "yes", "--appendfsync", "always"))
	}
	c, err := tcredis.Run(ctx, "redis:7", opts...)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return "", nil, fmt.Errorf("redis container: %w", err)
	}
	url, err := c.ConnectionString(ctx)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return "", nil, fmt.Errorf("redis container: %w", err)
	}
	if !strings.HasSuffix(url, "/0") {
		url += "/0"
	}
	return url, func() { _ = testcontainers.TerminateContainer(c) }, nil
}
