package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The failed-sends stream keeps every recipient that ended failed or
// blocked for a reason that may pass (broadcast.Reason.Replayable), with
// its job and last error: the source of a replay. Its retention is by age
// (limits, not work queue): a replay reads it and leaves it as it was, so
// a broadcast can be replayed as often as wanted within the retention.
const (
	StreamFailed = "FAILED"
	// DefaultFailedRetention is how long a failure is kept for replay.
	DefaultFailedRetention = 14 * 24 * time.Hour
	stageFailed            = "failed"
)

func (q *Queue) setupFailed(ctx context.Context) error {
	return q.createStream(ctx, jetstream.StreamConfig{
		Name:        q.failed,
		Description: "recipients that failed for reasons that may pass, for replay",
		Subjects:    []string{q.prefix + "." + stageFailed + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      q.FailedRetention,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
		Replicas:    q.Replicas,
	})
}

func (q *Queue) failedSubject(tenant, broadcastID string) string {
	return q.prefix + "." + stageFailed + "." + tenant + "." + broadcastID
}

// PublishFailure keeps f for replay and waits for the stream to store it.
// Call it before the failure is recorded: a failure recorded is then always
// replayable, and one kept but not recorded (the worker died in between) is
// skipped by the replay, which checks the recipient's state.
func (q *Queue) PublishFailure(ctx context.Context, f broadcast.Failure) error {
	if len(f.LastError) > 500 {
		f.LastError = f.LastError[:500]
	}
	_, err := q.js.Publish(ctx, q.failedSubject(f.Job.TenantID, f.Job.BroadcastID), f.Marshal(),
		jetstream.WithMsgID(f.MsgID()), jetstream.WithExpectStream(q.failed))
	if err != nil {
		return fmt.Errorf("keep the failure of %s for replay: %w", f.Job.UserID, err)
	}
	return nil
}

// Failures calls fn with every failure kept for a broadcast, oldest first,
// until it has seen those stored when it started. A failure that cannot be
// decoded is passed to bad and skipped.
func (q *Queue) Failures(ctx context.Context, tenant, broadcastID string, fn func(broadcast.Failure) error, bad func(seq uint64, err error)) error {
	subject := q.failedSubject(tenant, broadcastID)
	s, err := q.js.Stream(ctx, q.failed)
	if err != nil {
		return fmt.Errorf("stream %s: %w", q.failed, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return fmt.Errorf("count the failures of %s: %w", broadcastID, err)
	}
	left := info.State.Subjects[subject]
	if left == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("read the failures of %s: %w", broadcastID, err)
	}
	for left > 0 {
		batch, err := c.Fetch(int(min(left, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read the failures of %s: %w", broadcastID, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			left--
			f, err := broadcast.DecodeFailure(m.Data())
			if err != nil {
				md, _ := m.Metadata()
				var seq uint64
				if md != nil {
					seq = md.Sequence.Stream
				}
				bad(seq, err)
				continue
			}
			if err := fn(f); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("read the failures of %s: %w", broadcastID, err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("read the failures of %s: %d announced but none delivered", broadcastID, left)
		}
	}
	return nil
}
