package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Handler processes one message. Its error decides the message's fate:
// nil acks it, Retry redelivers it after a delay, Terminate drops it for
// good, and any other error redelivers it with backoff.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// RetryError asks for redelivery after Delay.
type RetryError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.Delay, e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// Retry returns an error that redelivers the message after delay.
func Retry(delay time.Duration, err error) error { return &RetryError{Delay: delay, Err: err} }

// TerminateError marks a message that can never be processed.
type TerminateError struct{ Err error }

func (e *TerminateError) Error() string { return "terminate: " + e.Err.Error() }
func (e *TerminateError) Unwrap() error { return e.Err }

// Terminate returns an error that drops the message without redelivery.
func Terminate(err error) error { return &TerminateError{Err: err} }

// Settle acks, redelivers or terminates m as its handler's error says (see
// Handler).
func Settle(m jetstream.Msg, err error, log *zap.Logger) {
	var retry *RetryError
	var term *TerminateError
	switch {
	case err == nil:
		err = m.Ack()
	case errors.As(err, &term):
		log.Error("job terminated", zap.String("subject", m.Subject()), zap.Error(term.Err))
		err = m.TermWithReason(clip(term.Err.Error()))
	case errors.As(err, &retry):
		err = m.NakWithDelay(retry.Delay)
	default:
		delay := Backoff(deliveries(m), time.Second, time.Minute)
		log.Warn("job failed, will retry", zap.String("subject", m.Subject()), zap.Duration("delay", delay), zap.Error(err))
		err = m.NakWithDelay(delay)
	}
	if err != nil {
		// The server redelivers after AckWait; nothing is lost.
		log.Warn("ack", zap.String("subject", m.Subject()), zap.Error(err))
	}
}

func deliveries(m jetstream.Msg) int {
	md, err := m.Metadata()
	if err != nil {
		return 1
	}
	return int(md.NumDelivered)
}

// Backoff returns an exponential delay with full jitter for the nth attempt
// (n >= 1): uniformly random in [base*2^(n-1)/2, base*2^(n-1)], capped at max.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
