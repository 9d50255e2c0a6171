package devenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// redisParentHelperEnv, set to a directory, turns the test binary into the
// parent process of TestRedisChildDiesWithParent: it starts a redis-server
// in that directory, prints its address and waits to be killed.
const redisParentHelperEnv = "DEVENV_REDIS_PARENT_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(redisParentHelperEnv); dir != "" {
		redisParentHelper(dir)
		return
	}
	os.Exit(m.Run())
}

func redisParentHelper(dir string) {
	r, err := NewRedisServer(context.Background(), dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", strings.TrimSuffix(strings.TrimPrefix(r.URL(), "redis://"), "/0"))
	time.Sleep(time.Minute) // the test kills us well before
	_ = r.Close()
	os.Exit(1)
}
