package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// pollInterval is how often Eventually asks its condition.
const pollInterval = 10 * time.Millisecond

// Logger returns a logger that writes to the test's log, at Info level, or
// Debug when TEST_DEBUG=1. Stop everything that logs to it before the test
// ends: the testing package rejects a log line after that.
func Logger(t testing.TB) *zap.Logger {
	level := zapcore.InfoLevel
	if os.Getenv("TEST_DEBUG") == "1" {
		level = zapcore.DebugLevel
	}
	return zaptest.NewLogger(t, zaptest.Level(level))
}

// Eventually waits until cond returns true, asking every 10 ms, and fails
// the test with msgAndArgs (a format and its arguments, as in testify) if it
// has not within timeout. Wait with it rather than with time.Sleep.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, message(msgAndArgs))
		}
		<-tick.C
	}
}

// message formats msgAndArgs the way testify does.
func message(msgAndArgs []any) string {
	switch {
	case len(msgAndArgs) == 0:
		return "(no message)"
	case len(msgAndArgs) == 1:
		return fmt.Sprint(msgAndArgs[0])
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

// FreeTenant returns a tenant id (a random GUID, the shape of an Entra
// tenant id) that no other test uses, so that tests sharing one Redis and
// one NATS never see each other's data.
func FreeTenant(t testing.TB) string {
	t.Helper()
	return uuid.NewString()
}
