package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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

// Worker pulls messages from a consumer and runs Handler on up to
// Concurrency of them at a time.
type Worker struct {
	Consumer    jetstream.Consumer
	Handler     Handler
	Concurrency int
	// Grace is how long in-flight messages may take to finish once Run's
	// context is done; after it their contexts are cancelled.
	Grace time.Duration
	Log   *zap.Logger
}

// Run works until ctx is done, then stops fetching, lets in-flight messages
// finish within Grace, and returns. Messages it did not finish are released
// for redelivery.
func (w *Worker) Run(ctx context.Context) error {
	conc := max(w.Concurrency, 1)
	iter, err := w.Consumer.Messages(jetstream.PullMaxMessages(conc))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	// Handlers get their own context: shutdown first stops fetching, and
	// cancels work in flight only after the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				w.handle(workCtx, m)
			}
		}()
	}

	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		iter.Drain() // buffered messages still come out of Next, to be released below
		close(stopped)
	}()
	for {
		m, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			w.Log.Warn("fetch", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if ctx.Err() != nil {
			_ = m.Nak() // not started: give it back at once
			continue
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			_ = m.Nak()
		}
	}
	close(msgs)
	<-stopped

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.Grace):
		w.Log.Warn("grace period over: cancelling work in flight", zap.Duration("grace", w.Grace))
		cancelWork()
		<-done
	}
	return nil
}

func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	Settle(m, w.Handler(ctx, m), w.Log)
}

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
