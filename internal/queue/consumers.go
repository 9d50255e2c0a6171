package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/retry"
)

// Every broadcast has one durable consumer per stage, named
// <stage>-<broadcast> and filtered on that broadcast's subject at that stage.
// A work-queue stream allows several consumers only on subjects that do not
// overlap, and a consumer per broadcast is what lets a worker choose which
// broadcast (and which tenant) its next job comes from: a paused tenant's
// jobs are simply not fetched, one tenant's slow Graph never holds another's
// installs, and a short urgent broadcast is not queued behind a long one
// (see Scheduler).

// Stages lists the stages of a broadcast's sending: every broadcast has a
// consumer at each, and a cancel purges their jobs.
var Stages = []broadcast.Stage{broadcast.StageInstall, broadcast.StageSend}

// ChangeStages are the stages of the edit and the recall of a message
// sent: a broadcast has a consumer at one once it started.
var ChangeStages = []broadcast.Stage{broadcast.StageEdit, broadcast.StageRecall}

// AllStages lists every stage of the JOBS stream.
var AllStages = append(append([]broadcast.Stage(nil), Stages...), ChangeStages...)

// Metadata keys of a broadcast's consumers.
const (
	metaTenant   = "tenant"
	metaPriority = "priority"
)

// BroadcastConsumer is a broadcast's consumer at one stage, as listed from
// the stream.
type BroadcastConsumer struct {
	Name        string
	BroadcastID string
	TenantID    string
	Priority    broadcast.Priority
	// Pending counts the jobs not yet delivered; AckPending those delivered
	// and not yet acked (in a worker's hands, or waiting for redelivery).
	Pending    uint64
	AckPending int
}

// Idle reports whether the consumer has no job left at all.
func (c BroadcastConsumer) Idle() bool { return c.Pending == 0 && c.AckPending == 0 }

// ConsumerName is the name of a broadcast's consumer at stage.
func ConsumerName(stage broadcast.Stage, broadcastID string) string {
	return string(stage) + "-" + broadcastID
}

// EnsureConsumers creates the broadcast's consumers at stages (default
// Stages), or updates them. Call it before the broadcast's first job at
// a stage is published; the stream keeps jobs published before they
// exist, so calling it late loses nothing.
func (q *Queue) EnsureConsumers(ctx context.Context, tenant, broadcastID string, prio broadcast.Priority, stages ...broadcast.Stage) error {
	if len(stages) == 0 {
		stages = Stages
	}
	for _, stage := range stages {
		err := q.ensureConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       ConsumerName(stage, broadcastID),
			Description:   string(stage) + " jobs of broadcast " + broadcastID,
			FilterSubject: q.subject(stage, tenant, broadcastID),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       AckWait,
			// Unlimited: a work-queue job past the server's bound would stay
			// in the stream undelivered, its recipient never final. The
			// Scheduler bounds failed attempts and dead-letters instead
			// (MaxFailures), and the handlers bound their waits per cause.
			MaxDeliver:    -1,
			MaxAckPending: 10_000,
			Metadata:      map[string]string{metaTenant: tenant, metaPriority: string(prio.OrNormal())},
		})
		if err != nil {
			return fmt.Errorf("create %s consumer of %s: %w", stage, broadcastID, err)
		}
	}
	return nil
}

// ensureConsumer creates or updates a consumer, trying up to six times
// (ensurePolicy: about 3 s at most in all): a create racing a scheduler's
// delete or re-create of the same consumer (a replay or an edit reopening
// a broadcast just finished) can fail in the server ("o.dat.tmp" or
// "meta.inf.tmp: no such file"), and it went on failing for over a second
// in CI: from the second failure on, the consumer is deleted before the
// next try.
func (q *Queue) ensureConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) error {
	attempt := 0
	return ensurePolicy.Do(ctx, func(ctx context.Context) error {
		attempt++
		_, err := q.js.CreateOrUpdateConsumer(ctx, q.stream, cfg)
		var apiErr *jetstream.APIError
		if err != nil && attempt >= 2 && errors.As(err, &apiErr) && apiErr.Code >= 500 {
			// The race can leave the server holding a consumer whose
			// directory is gone, which every update fails to write: start
			// it again. Its unacked jobs stay in the stream and are
			// delivered to the new one; the handlers are idempotent.
			if derr := q.js.DeleteConsumer(ctx, q.stream, cfg.Durable); derr != nil && !errors.Is(derr, jetstream.ErrConsumerNotFound) {
				err = errors.Join(err, derr)
			}
		}
		return err
	})
}

var ensurePolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 6}

// Consumers lists the broadcasts' consumers at stage.
func (q *Queue) Consumers(ctx context.Context, stage broadcast.Stage) ([]BroadcastConsumer, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	prefix := ConsumerName(stage, "")
	var out []BroadcastConsumer
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		id, ok := strings.CutPrefix(info.Name, prefix)
		if !ok {
			continue
		}
		out = append(out, BroadcastConsumer{
			Name: info.Name, BroadcastID: id, TenantID: info.Config.Metadata[metaTenant],
			Priority: broadcast.Priority(info.Config.Metadata[metaPriority]).OrNormal(),
			Pending:  info.NumPending, AckPending: info.NumAckPending,
		})
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", q.stream, err)
	}
	return out, nil
}

// DeleteConsumer removes a finished broadcast's consumer at stage. A
// consumer already gone is not an error.
func (q *Queue) DeleteConsumer(ctx context.Context, stage broadcast.Stage, broadcastID string) error {
	err := q.js.DeleteConsumer(ctx, q.stream, ConsumerName(stage, broadcastID))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete %s consumer of %s: %w", stage, broadcastID, err)
	}
	return nil
}

// Purge removes every job of a broadcast from the stream, at every stage:
// a canceled broadcast's jobs need not wait for a worker to skip them.
func (q *Queue) Purge(ctx context.Context, tenant, broadcastID string) (uint64, error) {
	n, err := q.Jobs(ctx, tenant, broadcastID)
	if err != nil {
		return 0, err
	}
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	for _, stage := range Stages {
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(q.subject(stage, tenant, broadcastID))); err != nil {
			return 0, fmt.Errorf("purge %s jobs of %s: %w", stage, broadcastID, err)
		}
	}
	return n, nil
}

// Jobs counts the jobs of a broadcast's sending in the stream (install
// and send; not its edit's or recall's): queued, or in a worker's hands
// (a work queue keeps a job until its ack).
func (q *Queue) Jobs(ctx context.Context, tenant, broadcastID string) (uint64, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(q.prefix+".*."+tenant+"."+broadcastID))
	if err != nil {
		return 0, fmt.Errorf("count the jobs of %s: %w", broadcastID, err)
	}
	var n uint64
	for subject, c := range info.State.Subjects {
		for _, stage := range Stages {
			if subject == q.subject(stage, tenant, broadcastID) {
				n += c
			}
		}
	}
	return n, nil
}

// StageJobs counts the jobs of a broadcast at one stage in the stream.
func (q *Queue) StageJobs(ctx context.Context, stage broadcast.Stage, tenant, broadcastID string) (uint64, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	subject := q.subject(stage, tenant, broadcastID)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, fmt.Errorf("count the %s jobs of %s: %w", stage, broadcastID, err)
	}
	return info.State.Subjects[subject], nil
}
