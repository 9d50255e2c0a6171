package teamsim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func TestLimiterSlidingWindow(t *testing.T) {
	t.Parallel()
	l := newLimiter(perSecond(3))
	for _, at := range []time.Duration{0, 500 * ms, 900 * ms} {
		require.Zero(t, l.wait(at))
		l.record(at)
	}
	require.Equal(t, 50*ms, l.wait(950*ms), "full until the request at 0 leaves (now-1s, now]")
	require.Zero(t, l.wait(1000*ms), "a request exactly 1 s old is out of the window")
	l.record(1000 * ms)
	require.Equal(t, 500*ms, l.wait(1000*ms))

	// Many rounds through the ring keep the count exact.
	l = newLimiter(perSecond(2))
	now := time.Duration(0)
	for i := 0; i < 100; i++ {
		require.Zero(t, l.wait(now), "round %d", i)
		l.record(now)
		require.Zero(t, l.wait(now))
		l.record(now)
		require.Equal(t, time.Second, l.wait(now))
		now += time.Second
	}
}

func TestLimiterConversationWindows(t *testing.T) {
	t.Parallel()
	l := newLimiter(conversationWindows)
	for i := 0; i < 7; i++ {
		require.Zero(t, l.wait(0))
		l.record(0)
	}
	require.Equal(t, time.Second, l.wait(0), "7 per second")
	require.Zero(t, l.wait(time.Second))
	l.record(time.Second)
	require.Equal(t, time.Second, l.wait(time.Second), "8 per 2 seconds")
	require.Len(t, l.ring, 8, "the ring grows only as far as it is used")

	// 60 per 30 s: spread 60 requests so no shorter window is hit.
	l = newLimiter(conversationWindows)
	for i := 0; i < 60; i++ {
		at := time.Duration(i) * 400 * ms
		require.Zero(t, l.wait(at), "request %d", i)
		l.record(at)
	}
	require.Equal(t, 6*time.Second, l.wait(24*time.Second), "until the first of the 60 is 30 s old")
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	tenant, conv := newLimiter(perSecond(2)), newLimiter(perSecond(1))

	require.True(t, admit(at(0), nil, 0, false, tenant, conv).ok)
	v := admit(at(100*ms), nil, 0, false, tenant, conv)
	require.False(t, v.ok)
	require.False(t, v.violation)
	require.Equal(t, time.Second, v.retryAfter, "900 ms rounded up to whole seconds")
	require.Len(t, tenant.ring, 1, "refused by the conversation: not counted by the tenant")
	require.Zero(t, tenant.blockedUntil, "the tenant did not refuse it")
	require.Equal(t, 1100*ms, conv.blockedUntil)

	v = admit(at(600*ms), nil, 0, false, tenant, conv)
	require.True(t, v.violation)
	require.Equal(t, time.Second, v.retryAfter, "500 ms left, rounded up")
	require.Equal(t, 1100*ms, conv.blockedUntil, "a violation does not extend the block")

	require.True(t, admit(at(600*ms), nil, 0, false, tenant, nil).ok, "the tenant alone has room")
	require.True(t, admit(at(1100*ms), nil, 0, false, tenant, conv).ok)
	v = admit(at(1200*ms), nil, 0, true, tenant, nil)
	require.False(t, v.ok)
	require.Equal(t, 400*ms, v.retryAfter, "fractional: the exact wait")
	require.Equal(t, "0.4", retryAfterHeader(v.retryAfter))
	require.Equal(t, "2", retryAfterHeader(2*time.Second))
	require.Equal(t, "1.25", retryAfterHeader(1250*ms))
	require.Equal(t, ms, roundRetryAfter(10*time.Microsecond, true))

	// Requests until the 429 that set the block left (its answer takes
	// 50 ms) were in flight: refused, but not violations.
	l := newLimiter(perSecond(1))
	require.True(t, admit(at(0), &exchange{answer: 50 * ms}, 0, false, l, nil).ok)
	blocking := &exchange{answer: 50 * ms}
	v = admit(at(10*ms), blocking, 0, false, l, nil)
	require.False(t, v.ok)
	require.False(t, v.violation)
	v = admit(at(60*ms), &exchange{answer: 50 * ms}, 0, false, l, nil)
	require.False(t, v.ok)
	require.False(t, v.violation, "in flight")
	// A loaded simulator writes the 429 late: until it has, nobody knew.
	v = admit(at(80*ms), &exchange{answer: 50 * ms}, 0, false, l, nil)
	require.False(t, v.violation, "the 429 has not left yet")
	blocking.departed(90*ms, 0)
	v = admit(at(90*ms), &exchange{answer: 50 * ms}, 0, false, l, nil)
	require.False(t, v.violation, "in flight as the 429 left")
	v = admit(at(91*ms), &exchange{answer: 50 * ms}, 0, false, l, nil)
	require.True(t, v.violation, "sent after the client could have known")
	require.Equal(t, time.Second, v.retryAfter)
	require.True(t, admit(at(1010*ms), &exchange{answer: 50 * ms}, 0, false, l, nil).ok)

	unlimited := newLimiter(nil)
	for i := 0; i < 1000; i++ {
		require.True(t, admit(at(0), nil, 0, false, unlimited, nil).ok)
	}
	require.Empty(t, unlimited.ring)
}

// at is a clock stopped at d.
func at(d time.Duration) func() time.Duration { return func() time.Duration { return d } }
