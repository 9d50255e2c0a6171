package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/broadcast-dev/broadcast/internal/retry"
)

// Handler processes one message. Its error decides the message's fate:
// nil acks it, Retry redelivers it after a delay (a wait, not a failure),
// Terminate drops it for good, and any other error is a failed attempt,
// redelivered with backoff until the job has failed MaxFailures times;
// then, as at once after a panic, the job is dead-lettered (DeadLetter).
type Handler func(ctx context.Context, msg jetstream.Msg) error

// DeadLetter records a job that will not be delivered again: it panicked,
// or failed MaxFailures times. It ends the job's recipient with the cause
// (failed, kept in the FAILED stream for a replay); the job is then
// terminated. An error redelivers the job, to be dead-lettered again.
type DeadLetter func(ctx context.Context, msg jetstream.Msg, cause error) error

// RetryError asks for redelivery after Delay.
type RetryError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.Delay, e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// Retry returns an error that redelivers the message after delay, stretched
// by up to a quarter (retry.Jitter): a tenant's jobs told to wait the same
// Retry-After or backlog come back spread out, never earlier than asked.
// A Retry is a wait, not a failed attempt: it does not count towards
// MaxFailures.
func Retry(delay time.Duration, err error) error {
	return &RetryError{Delay: retry.Jitter(delay), Err: err}
}

// TerminateError marks a message that can never be processed.
type TerminateError struct{ Err error }

func (e *TerminateError) Error() string { return "terminate: " + e.Err.Error() }
func (e *TerminateError) Unwrap() error { return e.Err }

// Terminate returns an error that drops the message without redelivery.
func Terminate(err error) error { return &TerminateError{Err: err} }

// PanicError is a handler's panic, recovered: the value and the stack of
// the goroutine that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// FailurePolicy spaces the redeliveries of a job whose handler failed:
// 1 s doubling to a minute, with jitter.
var FailurePolicy = retry.Policy{Base: time.Second, Max: time.Minute}

// DefaultMaxFailures is how many failed attempts a job has before it is
// dead-lettered. FailurePolicy spaces them over 7 to 14 minutes. An
// outage of Redis or NATS does not use them up: the failures are counted
// in Redis, and nothing is delivered while NATS is away.
const DefaultMaxFailures = 20

func deliveries(m jetstream.Msg) int {
	md, err := m.Metadata()
	if err != nil {
		return 1
	}
	return int(md.NumDelivered)
}

// jobKey names a job among its broadcast's for counting its failures: its
// stream and sequence in it, which every redelivery keeps (a job published
// again is another job).
func jobKey(m jetstream.Msg) string {
	md, err := m.Metadata()
	if err != nil {
		return m.Subject()
	}
	return fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
