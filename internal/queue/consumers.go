package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Send jobs are consumed through one durable consumer per broadcast, named
// send-<broadcast> and filtered on that broadcast's subject. A work-queue
// stream allows several consumers only on subjects that do not overlap, and
// one consumer per broadcast is what lets senders choose which broadcast (and
// which tenant) the next job comes from: a paused tenant's jobs are simply
// not fetched, and a short urgent broadcast is not queued behind a long one.
const sendConsumerPrefix = "send-"

// Metadata keys of a send consumer.
const (
	metaTenant   = "tenant"
	metaPriority = "priority"
)

// SendConsumer is a broadcast's send consumer as listed from the stream.
type SendConsumer struct {
	Name        string
	BroadcastID string
	TenantID    string
	Priority    broadcast.Priority
	// Pending counts the jobs not yet delivered; AckPending those delivered
	// and not yet acked (in a sender's hands, or waiting for redelivery).
	Pending    uint64
	AckPending int
}

// Idle reports whether the consumer has no job left at all.
func (c SendConsumer) Idle() bool { return c.Pending == 0 && c.AckPending == 0 }

// SendConsumerName is the name of a broadcast's send consumer.
func SendConsumerName(broadcastID string) string { return sendConsumerPrefix + broadcastID }

// EnsureSendConsumer creates the broadcast's send consumer, or updates it.
// Call it before the broadcast's first send job is published; the stream
// keeps jobs published before it exists, so calling it late loses nothing.
func (q *Queue) EnsureSendConsumer(ctx context.Context, tenant, broadcastID string, prio broadcast.Priority) error {
	_, err := q.js.CreateOrUpdateConsumer(ctx, q.stream, jetstream.ConsumerConfig{
		Durable:       SendConsumerName(broadcastID),
		Description:   "send jobs of broadcast " + broadcastID,
		FilterSubject: q.subject(broadcast.StageSend, tenant, broadcastID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxDeliver:    -1, // the handlers bound retries themselves, per cause
		MaxAckPending: 10_000,
		Metadata:      map[string]string{metaTenant: tenant, metaPriority: string(prio.OrNormal())},
	})
	if err != nil {
		return fmt.Errorf("create send consumer of %s: %w", broadcastID, err)
	}
	return nil
}

// SendConsumers lists the send consumers of every broadcast that has one.
func (q *Queue) SendConsumers(ctx context.Context) ([]SendConsumer, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	var out []SendConsumer
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		id, ok := strings.CutPrefix(info.Name, sendConsumerPrefix)
		if !ok {
			continue
		}
		out = append(out, SendConsumer{
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

// DeleteSendConsumer removes a finished broadcast's send consumer. A
// consumer already gone is not an error.
func (q *Queue) DeleteSendConsumer(ctx context.Context, broadcastID string) error {
	err := q.js.DeleteConsumer(ctx, q.stream, SendConsumerName(broadcastID))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete send consumer of %s: %w", broadcastID, err)
	}
	return nil
}
