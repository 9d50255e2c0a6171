package ratelimit

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// lateness keeps how late this process's recent requests left their slots
// and a high quantile of it: the part of the margin between slots that
// this process can observe. Nearly the maximum: any request later than
// the margin may cost a 429 and a whole second's pause, dearer than the
// margin (at most 3%); but not the maximum, so that one stall of the
// machine does not set it alone. Slots later than it are let go
// (Gate.slot).
type lateness struct {
	mu   sync.Mutex
	ring [lateWindow]time.Duration
	n    int
	q    atomic.Int64 // ns; lateInitial until lateMin samples came
}

const (
	lateWindow   = 512   // samples: 10 s at 50/s
	lateEvery    = 32    // recompute after this many samples
	lateMin      = 64    // samples before the quantile is trusted
	lateQuantile = 0.998 // the second latest of 512
	// lateInitial stands for the quantile until enough samples came.
	lateInitial = 5 * time.Millisecond
)

func newLateness() *lateness {
	l := &lateness{}
	l.q.Store(int64(lateInitial))
	return l
}

func (l *lateness) add(d time.Duration) {
	d = max(d, 0)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.n%lateWindow] = d
	l.n++
	if l.n < lateMin || l.n%lateEvery != 0 {
		return
	}
	s := make([]time.Duration, min(l.n, lateWindow))
	copy(s, l.ring[:len(s)])
	slices.Sort(s)
	l.q.Store(int64(s[int(float64(len(s)-1)*lateQuantile)]))
}

// quantile is the high quantile of the recent lateness.
func (l *lateness) quantile() time.Duration { return time.Duration(l.q.Load()) }
