package ratelimit

import (
	"sync"
	"time"
)

// storeClock maps times of the shared store's clock (Redis's, on another
// machine perhaps) to this process's clock. Each reservation is a sample:
// the store read its clock somewhere between the call and the answer, so
// its reading matches the middle of the round trip within half of it. The
// sample with the shortest round trip of the last two windows sets the
// offset: a slow answer (a loaded host, a busy Redis) neither moves the
// slot nor counts as lateness, and the clocks' drift has no time to add
// up. Times are kept on this process's monotonic clock.
type storeClock struct {
	mu         sync.Mutex
	best, prev clockSample
}

// clockWindow is how long a sample may set the offset before a newer one
// replaces it: two windows at most, a few µs of drift between two clocks.
const clockWindow = time.Second

type clockSample struct {
	mid   time.Time     // the middle of the round trip, on this clock
	store time.Time     // the store's reading
	rtt   time.Duration // its round trip
	ok    bool
}

// local returns when t, a time of the store's clock, comes on this clock,
// and how far off that may be, learning from a reservation asked and
// answered at these times whose answer read the store's clock at now.
func (c *storeClock) local(asked, answered time.Time, now, t time.Time) (time.Time, time.Duration) {
	s := c.sample(clockSample{mid: asked.Add(answered.Sub(asked) / 2), store: now, rtt: answered.Sub(asked), ok: true})
	return s.mid.Add(t.Sub(s.store)), s.rtt / 2
}

// sample adds a sample and returns the best of the last two windows.
func (c *storeClock) sample(s clockSample) clockSample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.best.ok || s.mid.Sub(c.best.mid) > clockWindow {
		c.prev, c.best = c.best, s
	} else if s.rtt <= c.best.rtt {
		c.best = s
	}
	if c.prev.ok && c.prev.rtt < c.best.rtt && s.mid.Sub(c.prev.mid) <= 2*clockWindow {
		return c.prev
	}
	return c.best
}
