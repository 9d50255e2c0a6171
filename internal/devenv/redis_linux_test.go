package devenv

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRedisChildDiesWithParent kills a process that started a redis-server
// the way a crash would and checks that the server goes with it.
func TestRedisChildDiesWithParent(t *testing.T) {
	t.Parallel()
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), redisParentHelperEnv+"="+t.TempDir())
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()

	var addr string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	require.NotEmpty(t, addr, "helper printed no address")
	_, err = pingRedis(addr)
	require.NoError(t, err)

	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := pingRedis(addr); err != nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "redis-server on %s outlived its parent", addr)
		time.Sleep(20 * time.Millisecond)
	}
}
