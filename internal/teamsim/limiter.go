package teamsim

import (
	"strconv"
	"sync"
	"time"
)

// window allows n requests in any interval (now-d, now].
type window struct {
	n int
	d time.Duration
}

// conversationWindows are Teams' limits per bot per conversation.
var conversationWindows = []window{{7, time.Second}, {8, 2 * time.Second}, {60, 30 * time.Second}, {1800, time.Hour}}

func perSecond(rps int) []window {
	if rps <= 0 {
		return nil
	}
	return []window{{rps, time.Second}}
}

// limiter is one rate-limit scope (a tenant's Connector calls, a
// conversation, a tenant's Graph installedApps GETs or POSTs): true sliding
// windows over the accepted requests, and the time before which a
// Retry-After it gave has not passed.
//
// It remembers the times of the last max(n) accepted requests in a ring
// that grows only as far as it is used, so the many conversations that see
// one message each stay small.
type limiter struct {
	mu           sync.Mutex
	windows      []window
	capacity     int             // the largest n
	ring         []time.Duration // accepted request times (since the sim's epoch)
	head         int             // where the next time goes
	blockedUntil time.Duration   // a Retry-After given has not passed before this
	graceUntil   time.Duration   // requests before this were in flight when the block began
	leaving      int             // 429s that set the block and have not left yet
}

func newLimiter(ws []window) *limiter {
	l := &limiter{windows: ws}
	for _, w := range ws {
		l.capacity = max(l.capacity, w.n)
	}
	return l
}

// wait is how long from now until every window has room. Caller holds mu.
func (l *limiter) wait(now time.Duration) time.Duration {
	var longest time.Duration
	for _, w := range l.windows {
		if len(l.ring) < w.n {
			continue
		}
		i := l.head - w.n // the n-th most recent accepted request
		if i < 0 {
			i += len(l.ring)
		}
		if t := l.ring[i]; t > now-w.d {
			longest = max(longest, t+w.d-now)
		}
	}
	return longest
}

// record counts an accepted request. Caller holds mu.
func (l *limiter) record(now time.Duration) {
	if l.capacity == 0 {
		return
	}
	if len(l.ring) < l.capacity {
		l.ring = append(l.ring, now)
		l.head = len(l.ring) % l.capacity
		return
	}
	l.ring[l.head] = now
	l.head++
	if l.head == l.capacity {
		l.head = 0
	}
}

// verdict is the answer of admit.
type verdict struct {
	ok bool
	// violation: the request came while a Retry-After given to one of its
	// scopes had not passed, and after the client could have known of it.
	violation bool
	// retryAfter is what the 429 says, rounded as the header will be.
	retryAfter time.Duration
	// early is, for a request to a blocked scope, how long before the end
	// of the block it came.
	early time.Duration
	// refusedBy is the scope that refused the request.
	refusedBy *limiter
	// now is when the request was judged.
	now time.Duration
}

// admit decides on a request that counts against scope a and, if not nil,
// scope b (a tenant and one of its conversations). Both are checked and the
// request is recorded in both or in neither, so a request refused by one
// scope does not use up the other. Locks are taken in the order a, b.
//
// A request that finds a window full blocks the scopes that refused it for
// the Retry-After it is given. A request that arrives while a scope is
// blocked is answered 429 with the time left, rounded up, without
// extending the block; it is a violation if it came more than tol after
// the 429 that set the block left (ex's answer latency after it was
// judged): requests until then were in flight.
//
// The clock is read with the locks held, so that each scope records its
// requests in time order.
func admit(clock func() time.Duration, ex *exchange, tol time.Duration, fractional bool, a, b *limiter) verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
	}
	now := clock()
	v := verdict{now: now}
	a.checkBlock(now, &v)
	if b != nil {
		b.checkBlock(now, &v)
	}
	if v.early > 0 {
		v.retryAfter = roundRetryAfter(v.early, fractional)
		return v
	}
	waitA := a.wait(now)
	var waitB time.Duration
	if b != nil {
		waitB = b.wait(now)
	}
	if waitA == 0 && waitB == 0 {
		a.record(now)
		if b != nil {
			b.record(now)
		}
		v.ok = true
		return v
	}
	v.retryAfter = roundRetryAfter(max(waitA, waitB), fractional)
	grace := ex.graceAt(now, tol)
	if waitB > 0 {
		b.blockLocked(now, now+v.retryAfter, grace, ex)
		v.refusedBy = b
	}
	if waitA > 0 {
		a.blockLocked(now, now+v.retryAfter, grace, ex)
		v.refusedBy = a
	}
	return v
}

// checkBlock notes in v whether l is blocked at now. Caller holds mu.
func (l *limiter) checkBlock(now time.Duration, v *verdict) {
	if now >= l.blockedUntil {
		return
	}
	if left := l.blockedUntil - now; left > v.early {
		v.early, v.refusedBy = left, l
	}
	if now > l.graceUntil && l.leaving == 0 {
		v.violation = true
	}
}

// blockLocked blocks the scope until until, unless it already is for
// longer; requests until now+grace (the 429 is due to leave, plus the
// tolerance) are not violations, nor any request before the 429 of ex has
// actually left (ex.departed), however late the simulator writes it.
// Caller holds mu.
func (l *limiter) blockLocked(now, until, grace time.Duration, ex *exchange) {
	if until > l.blockedUntil {
		l.blockedUntil = until
		l.graceUntil = max(l.graceUntil, now+grace)
		ex.hold(l)
	}
}

// block is blockLocked for callers that do not hold mu.
func (l *limiter) block(now, until, grace time.Duration, ex *exchange) {
	l.mu.Lock()
	l.blockLocked(now, until, grace, ex)
	l.mu.Unlock()
}

// roundRetryAfter rounds d up to whole seconds (at least 1 s) or, for
// fractional Retry-After headers, to milliseconds (at least 1 ms).
func roundRetryAfter(d time.Duration, fractional bool) time.Duration {
	unit := time.Second
	if fractional {
		unit = time.Millisecond
	}
	n := (d + unit - 1) / unit
	return max(n, 1) * unit
}

// retryAfterHeader formats d as a Retry-After value in seconds.
func retryAfterHeader(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
