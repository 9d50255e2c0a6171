package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

func TestNATS(t *testing.T) {
	t.Parallel()
	url := NATS(t)
	require.Equal(t, url, NATS(t), "one server per test binary")

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name := "TESTENV_" + strings.ReplaceAll(FreeTenant(t), "-", "")
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{name}})
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), name, []byte("hello"))
	require.NoError(t, err)
	msg, err := s.GetLastMsgForSubject(t.Context(), name)
	require.NoError(t, err)
	require.Equal(t, "hello", string(msg.Data))
}

func TestRedis(t *testing.T) {
	t.Parallel()
	url := Redis(t)
	require.Equal(t, url, Redis(t), "one server per test binary")

	o, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(o)
	defer rdb.Close()
	key := "testenv:" + FreeTenant(t)
	require.NoError(t, rdb.Set(t.Context(), key, "v", time.Minute).Err())
	got, err := rdb.Get(t.Context(), key).Result()
	require.NoError(t, err)
	require.Equal(t, "v", got)
}

func TestLogger(t *testing.T) {
	t.Parallel()
	log := Logger(t)
	log.Info("hello from testenv")
	require.True(t, log.Core().Enabled(zapcore.InfoLevel))
	require.Equal(t, os.Getenv("TEST_DEBUG") == "1", log.Core().Enabled(zapcore.DebugLevel))
}

func TestEventually(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	Eventually(t, time.Second, func() bool { return calls.Add(1) == 3 }, "three calls")
	require.EqualValues(t, 3, calls.Load())
}

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyTimesOut(t *testing.T) {
	t.Parallel()
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		Eventually(ft, 50*time.Millisecond, func() bool { return false }, "job %s never %s", "j1", "ran")
	}()
	<-done
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	require.Equal(t, "condition not met within 50ms: job j1 never ran", ft.msg)
}

func TestFreeTenant(t *testing.T) {
	t.Parallel()
	a, b := FreeTenant(t), FreeTenant(t)
	require.NotEqual(t, a, b)
	_, err := uuid.Parse(a)
	require.NoError(t, err)
}

func TestRemoveStaleDirs(t *testing.T) {
	t.Parallel()
	// The id of a process that has exited and been reaped.
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	stale := filepath.Join(os.TempDir(), fmt.Sprintf("%stest-%d-1", dirPrefix, gone.Process.Pid))
	require.NoError(t, os.MkdirAll(stale, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(stale) })

	mine, err := processDir("test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(mine) })
	require.Contains(t, filepath.Base(mine), fmt.Sprintf("-%d-", os.Getpid()))

	removeStaleDirs()
	require.NoDirExists(t, stale)
	require.DirExists(t, mine)
}
