package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A slow answer says little about when the store read its clock: the
// offset comes from the fastest recent round trip, so a slot maps to the
// same local time however long its own answer took.
func TestStoreClockFollowsTheFastestRoundTrip(t *testing.T) {
	var c storeClock
	base := time.Now()
	store := time.UnixMicro(1_000_000_000_000_000) // the store's clock, 1 h ahead of nothing in particular
	at := func(d time.Duration) time.Time { return base.Add(d) }

	// 1 ms round trip, the store read its clock at its middle.
	due, unsure := c.local(at(0), at(time.Millisecond), store.Add(500*time.Microsecond), store.Add(10*time.Millisecond))
	require.Equal(t, 10*time.Millisecond, due.Sub(base))
	require.Equal(t, 500*time.Microsecond, unsure)

	// 30 ms round trip, the store read its clock right at the call: the
	// middle would put the slot 15 ms late; the fast sample keeps it.
	due, unsure = c.local(at(100*time.Millisecond), at(130*time.Millisecond), store.Add(100*time.Millisecond), store.Add(120*time.Millisecond))
	require.Equal(t, 120*time.Millisecond, due.Sub(base))
	require.Equal(t, 500*time.Microsecond, unsure)

	// A faster sample replaces it.
	due, unsure = c.local(at(200*time.Millisecond), at(200*time.Millisecond+200*time.Microsecond), store.Add(200*time.Millisecond+150*time.Microsecond), store.Add(210*time.Millisecond))
	require.Equal(t, 210*time.Millisecond-50*time.Microsecond, due.Sub(base))
	require.Equal(t, 100*time.Microsecond, unsure)
}

// A sample sets the offset for two windows at most: the clocks drift
// apart, so after that even a slower sample replaces it.
func TestStoreClockForgetsOldSamples(t *testing.T) {
	var c storeClock
	base := time.Now()
	store := time.UnixMicro(1_000_000_000_000_000)
	at := func(d time.Duration) time.Time { return base.Add(d) }

	c.local(at(0), at(0), store, store)
	// The store's clock has gained 2 ms on ours, seen through 10 ms trips.
	later := 2*clockWindow + 10*time.Millisecond
	c.local(at(clockWindow+time.Millisecond), at(clockWindow+11*time.Millisecond), store.Add(clockWindow+8*time.Millisecond), store)
	due, unsure := c.local(at(later), at(later+10*time.Millisecond), store.Add(later+7*time.Millisecond), store.Add(later+100*time.Millisecond))
	require.Equal(t, later+98*time.Millisecond, due.Sub(base))
	require.Equal(t, 5*time.Millisecond, unsure)
}
