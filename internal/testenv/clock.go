package testenv

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Clock is a clock a test sets, for the components that take one (a
// dispatcher's Config.Now). It counts its reads, so that a test can wait
// until a component that reads it once a tick has looked at the time set:
// a condition to wait on, not a sleep.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	reads int
}

// NewClock returns a Clock at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the time set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.now
}

// Set sets the time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Read waits, up to 10 s, until the clock has been read n more times
// from now on.
func (c *Clock) Read(t testing.TB, n int) {
	t.Helper()
	c.mu.Lock()
	from := c.reads
	c.mu.Unlock()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.reads >= from+n
	}, 10*time.Second, 5*time.Millisecond)
}
