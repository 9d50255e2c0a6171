// Package retry is the one retry policy of the services: a bounded number
// of attempts, exponential delays with a cap, and jitter on every delay, so
// that the jobs or calls of a tenant that failed together do not come back
// together.
//
// Delays are computed from an attempt number rather than from a stateful
// backoff: a job's attempt is what JetStream or the recipient's record
// counts (NumDelivered, retries), not something one process remembers.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Policy retries up to Attempts times in all, waiting Delay(n) after the
// nth failed attempt.
type Policy struct {
	// Base is the delay after the first failed attempt; it doubles with
	// every further one, up to Max.
	Base, Max time.Duration
	// Attempts bounds the calls Do makes (the first included). It must be
	// at least 1.
	Attempts int
	// Rand, when set, replaces math/rand/v2's N: tests pin the jitter.
	Rand func(n int64) int64
}

// Delay returns the wait after the nth failed attempt (n >= 1): Base x
// 2^(n-1), capped at Max, then taken uniformly in its upper half ("equal
// jitter": never less than half, so the backoff still grows).
func (p Policy) Delay(n int) time.Duration {
	d := max(p.Base, 0)
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d/2 + p.rand(d/2+1)
}

// Do calls fn until it returns nil, Attempts times at most, waiting
// Delay(n) after the nth failure. It returns fn's last error, or ctx's if
// ctx ends during a wait. An error fn marks Permanent stops it at once.
func (p Policy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	for n := 1; ; n++ {
		err = fn(ctx)
		var perm *permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if err == nil || n >= p.Attempts {
			return err
		}
		if serr := Sleep(ctx, p.Delay(n)); serr != nil {
			return serr
		}
	}
}

func (p Policy) rand(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if p.Rand != nil {
		return time.Duration(p.Rand(int64(n)))
	}
	return rand.N(n)
}

// Permanent marks err as not worth another attempt: Do returns it (err
// itself, unmarked) at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err: err}
}

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Jitter returns d stretched by up to a quarter, uniformly: a wait that
// must not be shortened (a Retry-After, a pause, a backlog) but that many
// jobs are told at once.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/4+1)
}

// Sleep waits d or until ctx ends, and returns ctx's error in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
