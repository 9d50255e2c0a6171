package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// settleTimeout bounds what settling a job may ask of Redis and NATS: the
// count of its failures and its dead letter.
const settleTimeout = 10 * time.Second

// settle acks, redelivers, terminates or dead-letters m, of broadcast id,
// as its handler's error says (see Handler). workCtx is the jobs' context:
// once it is cancelled (shutdown), an error is the interruption's, not a
// failed attempt.
func (s *Scheduler) settle(workCtx context.Context, id string, m jetstream.Msg, err error, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(workCtx), settleTimeout)
	defer cancel()
	var retry *RetryError
	var term *TerminateError
	var panicked *PanicError
	switch {
	case err == nil:
		err = m.Ack()
	case errors.As(err, &term):
		log.Error("job terminated", zap.String("subject", m.Subject()), zap.Error(term.Err))
		err = m.TermWithReason(clip(term.Err.Error()))
	case errors.As(err, &retry):
		err = m.NakWithDelay(retry.Delay)
	case errors.As(err, &panicked):
		// A bug met by this job: every delivery would meet it again.
		log.Error("job panicked: dead-lettered", zap.String("subject", m.Subject()), zap.String("broadcast_id", id),
			zap.Int("delivery", deliveries(m)), zap.String("panic", panicked.Error()), zap.ByteString("stack", panicked.Stack))
		err = s.deadLetter(ctx, m, err, log)
	case workCtx.Err() != nil:
		// Shutting down: the next delivery takes it up.
		err = m.NakWithDelay(FailurePolicy.Base)
	default:
		err = s.failed(ctx, id, m, err, log)
	}
	if err != nil {
		// The server redelivers after AckWait; nothing is lost.
		log.Warn("ack", zap.String("subject", m.Subject()), zap.Error(err))
	}
}

// failed counts a failed attempt of the job and redelivers it with
// backoff, or dead-letters it once it has failed MaxFailures times. A
// failure that cannot be counted (Redis is away) is not.
func (s *Scheduler) failed(ctx context.Context, id string, m jetstream.Msg, cause error, log *zap.Logger) error {
	n, err := s.broadcasts.JobFailed(ctx, id, jobKey(m))
	step := n
	if err != nil {
		log.Warn("count a failed job", zap.String("subject", m.Subject()), zap.Error(err))
		n, step = 0, deliveries(m)
	}
	if n >= s.cfg.MaxFailures {
		log.Error("job failed too often: dead-lettered", zap.String("subject", m.Subject()), zap.String("broadcast_id", id),
			zap.Int("failures", n), zap.Int("delivery", deliveries(m)), zap.Error(cause))
		return s.deadLetter(ctx, m, fmt.Errorf("failed %d times, the last: %w", n, cause), log)
	}
	delay := FailurePolicy.Delay(step)
	log.Warn("job failed, will retry", zap.String("subject", m.Subject()), zap.Int("failures", n),
		zap.Duration("delay", delay), zap.Error(cause))
	return m.NakWithDelay(delay)
}

// deadLetter records the job through the stage's DeadLetter and
// terminates it; if it cannot be recorded, the job comes back later to be
// tried (and dead-lettered) again: it is never dropped unrecorded.
func (s *Scheduler) deadLetter(ctx context.Context, m jetstream.Msg, cause error, log *zap.Logger) error {
	if s.cfg.DeadLetter == nil {
		log.Error("no dead letter at this stage: job terminated", zap.String("subject", m.Subject()), zap.Error(cause))
		return m.TermWithReason(clip("dead-lettered: " + cause.Error()))
	}
	if err := s.deadLetterOnce(ctx, m, cause); err != nil {
		delay := FailurePolicy.Delay(deliveries(m))
		log.Error("dead letter not recorded: the job comes back", zap.String("subject", m.Subject()),
			zap.Duration("delay", delay), zap.NamedError("cause", cause), zap.Error(err))
		return m.NakWithDelay(delay)
	}
	return m.TermWithReason(clip("dead-lettered: " + cause.Error()))
}

// deadLetterOnce runs the stage's DeadLetter, a panic of which is an error.
func (s *Scheduler) deadLetterOnce(ctx context.Context, m jetstream.Msg, cause error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v}
		}
	}()
	return s.cfg.DeadLetter(ctx, m, cause)
}
