package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/retry"
)

// StreamJobs is the name of the stream. Its consumers are per broadcast
// and stage (see ConsumerName).
const StreamJobs = "JOBS"

// Settings of the JOBS stream and its consumers.
const (
	// DuplicateWindow is how long the server remembers message ids.
	DuplicateWindow = 2 * time.Minute
	// AckWait is how long a consumer waits for an ack, or a heartbeat,
	// before it redelivers a job: how long the jobs of a worker that died
	// wait to be taken over (then up to a second for a scheduler to fetch
	// them: a kill -9 costs at most about 5 s). It can be short because the
	// Scheduler heartbeats every job in hand (HeartbeatInterval), so no
	// legitimate work, however slow, outlives it; a claim in Redis has a
	// lease of one AckWait, renewed by the same heartbeat, so a redelivery
	// after a death finds it run out and takes it over at once.
	AckWait = 4 * time.Second
	// MaxPendingAcks bounds the asynchronous publishes awaiting their ack.
	MaxPendingAcks = 4096
)

// Connect opens a NATS connection that reconnects forever, and its JetStream.
// extra adds options such as nats.Secure and nats.UserCredentials.
func Connect(ctx context.Context, url, name string, log *zap.Logger, extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", zap.String("url", c.ConnectedUrlRedacted())) }),
	}, extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second),
		jetstream.WithPublishAsyncMaxPending(MaxPendingAcks), jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// Queue is the JOBS stream of one deployment. A namespace lets several
// deployments (or parallel tests) share one NATS account without their
// streams' subjects overlapping; production uses the empty namespace.
type Queue struct {
	js     jetstream.JetStream
	stream string // JOBS
	failed string // FAILED
	prefix string
	// FailedRetention is how long the failed-sends stream keeps a failure;
	// set it before Setup. Default DefaultFailedRetention.
	FailedRetention time.Duration
	// Replicas is the number of copies of each stream in a NATS cluster
	// (3 on a three-node cluster); set it before Setup. 0 means 1. Setup
	// applies it to existing streams too, so every process must have the
	// same value.
	Replicas int
}

// New returns the queue of namespace ns on js.
func New(js jetstream.JetStream, ns string) *Queue {
	q := &Queue{js: js, stream: StreamJobs, failed: StreamFailed, prefix: "bcast", FailedRetention: DefaultFailedRetention}
	if ns != "" {
		q.stream, q.failed, q.prefix = StreamJobs+"_"+ns, StreamFailed+"_"+ns, ns+".bcast"
	}
	return q
}

// Setup creates or updates the streams.
func (q *Queue) Setup(ctx context.Context) error {
	err := q.createStream(ctx, jetstream.StreamConfig{
		Name:        q.stream,
		Description: "one job per recipient and stage of every broadcast",
		Subjects:    q.subjectsAll(),
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
		Replicas:    q.Replicas,
	})
	if err != nil {
		return err
	}
	if err := q.setupFailed(ctx); err != nil {
		return err
	}
	return nil
}

// streamSetup bounds each attempt to create or update a stream, and the
// attempts. On a cluster, processes that start together and create the
// same replicated stream at once can all go unanswered (nats-server 2.15:
// five concurrent first creates of a three-replica stream, none answered
// in 10 s); the stream exists by then, and the next attempt finds it.
var streamSetup = retry.Policy{Base: 250 * time.Millisecond, Max: 2 * time.Second, Attempts: 6}

const streamSetupTimeout = 3 * time.Second

// createStream creates the stream or brings it to cfg.
func (q *Queue) createStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	err := streamSetup.Do(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, streamSetupTimeout)
		defer cancel()
		_, err := q.js.CreateOrUpdateStream(ctx, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}

func (q *Queue) subjectsAll() []string {
	out := make([]string, len(AllStages))
	for i, stage := range AllStages {
		out[i] = q.subjectAll(stage)
	}
	return out
}

func (q *Queue) subjectAll(stage broadcast.Stage) string {
	return q.prefix + "." + string(stage) + ".>"
}

// Subject is the subject of a job at a stage: <prefix>.<stage>.<tenant>.<broadcast>.
func (q *Queue) Subject(stage broadcast.Stage, j broadcast.Job) string {
	return q.subject(stage, j.TenantID, j.BroadcastID)
}

func (q *Queue) subject(stage broadcast.Stage, tenant, broadcastID string) string {
	return q.prefix + "." + string(stage) + "." + tenant + "." + broadcastID
}

// Consumer returns the durable consumer called name.
func (q *Queue) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	c, err := q.js.Consumer(ctx, q.stream, name)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	return c, nil
}

// Publish publishes one job and waits for the stream to store it. A
// republish of the same job within DuplicateWindow is stored once.
func (q *Queue) Publish(ctx context.Context, stage broadcast.Stage, j broadcast.Job) error {
	return q.publish(ctx, Item{Stage: stage, Job: j})
}

// ErrPublishUnknown says that a publish got no answer within its budget:
// the job may be in the stream (NATS took it and the ack was lost, or
// takes it when it comes back) or not.
var ErrPublishUnknown = errors.New("NATS did not confirm the publish in time: the job may or may not be queued")

// publishPolicy spaces PublishConfirmed's tries; its budget bounds them.
var publishPolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}

// publishTry bounds one try of PublishConfirmed.
const publishTry = 2 * time.Second

// PublishConfirmed publishes one job and finds out whether it is stored:
// a try that gets no ack (NATS stalled, the connection cut) is published
// again with the same message id, with jittered backoff, until the stream
// acks it, as stored or as a duplicate of the try that reached it first
// (within DuplicateWindow the stream holds the job once). After budget
// it returns ErrPublishUnknown (wrapped).
func (q *Queue) PublishConfirmed(ctx context.Context, stage broadcast.Stage, j broadcast.Job, budget time.Duration) error {
	until := time.Now().Add(budget)
	for try := 1; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, min(publishTry, max(time.Until(until), time.Millisecond)))
		err := q.publish(tctx, Item{Stage: stage, Job: j})
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		wait := publishPolicy.Delay(try)
		if time.Now().Add(wait).After(until) {
			return fmt.Errorf("%w (%v)", ErrPublishUnknown, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (q *Queue) publish(ctx context.Context, it Item) error {
	_, err := q.js.Publish(ctx, q.Subject(it.Stage, it.Job), it.Job.Marshal(), jetstream.WithMsgID(it.msgID()), jetstream.WithExpectStream(q.stream))
	if err != nil {
		return fmt.Errorf("publish %s job for %s: %w", it.Stage, it.Job.UserID, err)
	}
	return nil
}

// Item is one job to publish at one stage.
type Item struct {
	Stage broadcast.Stage
	Job   broadcast.Job
	// MsgID, when set, replaces the job's own message id (Job.MsgID): for
	// a job rebuilt on purpose, which the server must not drop as a
	// duplicate of the one that was lost.
	MsgID string
}

func (it Item) msgID() string {
	if it.MsgID != "" {
		return it.MsgID
	}
	return it.Job.MsgID(it.Stage)
}

// PublishBatch publishes items asynchronously and waits for every ack. An
// item whose publish failed is retried once synchronously; the first error
// that remains is returned. The connection bounds the acks outstanding at a
// time (MaxPendingAcks), so memory stays flat however large the batch.
func (q *Queue) PublishBatch(ctx context.Context, items []Item) error {
	return q.PublishAsync(ctx, items).Wait(ctx)
}

// Acks are the pending acks of a batch published by PublishAsync.
type Acks struct {
	q       *Queue
	items   []Item
	futures []jetstream.PubAckFuture // nil where the publish did not leave
	err     error                    // ctx ended while publishing
}

// PublishAsync publishes items without waiting for their acks; Wait waits
// for them. It blocks only while the connection has MaxPendingAcks acks
// outstanding, so a caller can publish the next batch while the acks of
// this one are on their way.
func (q *Queue) PublishAsync(ctx context.Context, items []Item) *Acks {
	a := &Acks{q: q, items: items, futures: make([]jetstream.PubAckFuture, len(items))}
	for i, it := range items {
		for {
			f, err := q.js.PublishAsync(q.Subject(it.Stage, it.Job), it.Job.Marshal(),
				jetstream.WithMsgID(it.msgID()), jetstream.WithExpectStream(q.stream))
			if ctx.Err() != nil {
				a.err = ctx.Err()
				return a
			}
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				// The window stayed full for the stall wait: the server is
				// slow, not failing. Wait for room rather than publish
				// synchronously behind thousands of acks.
				continue
			}
			if err == nil {
				a.futures[i] = f
			}
			break // a failed item is retried by Wait
		}
	}
	return a
}

// Wait waits for every ack of the batch. An item whose publish failed is
// retried once synchronously; the first error that remains is returned.
func (a *Acks) Wait(ctx context.Context) error {
	if a.err != nil {
		return a.err
	}
	var firstErr error
	for i, f := range a.futures {
		if f != nil {
			select {
			case <-f.Ok():
				continue
			case <-f.Err():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := a.q.publish(ctx, a.items[i]); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Stream is the name of the queue's stream.
func (q *Queue) Stream() string { return q.stream }

// Depth counts the jobs of a tenant waiting in the stream, by stage (not yet
// acked: queued or in a worker's hands).
func (q *Queue) Depth(ctx context.Context, tenant string) (map[broadcast.Stage]uint64, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	out := make(map[broadcast.Stage]uint64, len(AllStages))
	for _, stage := range AllStages {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(q.prefix+"."+string(stage)+"."+tenant+".>"))
		if err != nil {
			return nil, fmt.Errorf("depth of %s: %w", tenant, err)
		}
		for _, n := range info.State.Subjects {
			out[stage] += n
		}
	}
	return out, nil
}

// Delete removes the queue's streams and everything in them: for tests,
// which run a namespace each.
func (q *Queue) Delete(ctx context.Context) error {
	return errors.Join(q.js.DeleteStream(ctx, q.stream), q.js.DeleteStream(ctx, q.failed))
}
