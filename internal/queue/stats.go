package queue

import (
	"context"
	"fmt"
	"strings"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// StageTenant keys the queue's figures: one stage of one tenant.
type StageTenant struct {
	Stage  broadcast.Stage
	Tenant string
}

// Backlog is the jobs of a stage and tenant, summed over its broadcasts'
// consumers.
type Backlog struct {
	Consumers int
	// Pending counts the jobs not yet delivered, AckPending those in a
	// worker's hands or waiting for redelivery, Redelivered those of the
	// latter delivered more than once.
	Pending, AckPending, Redelivered uint64
}

// Stats is the queue as metrics report it: bounded by stages and tenants,
// never per broadcast.
type Stats struct {
	// Messages is the number of jobs in the stream (every stage, every
	// tenant, acked ones excepted: a work queue removes them).
	Messages uint64
	Backlogs map[StageTenant]Backlog
}

// Stats reads the stream's size and lists its consumers once, summing them
// per stage and tenant.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	s, err := q.js.Stream(ctx, q.stream)
	if err != nil {
		return Stats{}, fmt.Errorf("stream %s: %w", q.stream, err)
	}
	out := Stats{Messages: s.CachedInfo().State.Msgs, Backlogs: make(map[StageTenant]Backlog)}
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		stage := consumerStage(info.Name)
		if stage == "" {
			continue
		}
		k := StageTenant{Stage: stage, Tenant: info.Config.Metadata[metaTenant]}
		b := out.Backlogs[k]
		b.Consumers++
		b.Pending += info.NumPending
		b.AckPending += uint64(info.NumAckPending)
		b.Redelivered += uint64(info.NumRedelivered)
		out.Backlogs[k] = b
	}
	if err := l.Err(); err != nil {
		return Stats{}, fmt.Errorf("list consumers of %s: %w", q.stream, err)
	}
	return out, nil
}

// consumerStage is the stage of a broadcast's consumer, "" for another.
func consumerStage(name string) broadcast.Stage {
	for _, stage := range AllStages {
		if strings.HasPrefix(name, ConsumerName(stage, "")) {
			return stage
		}
	}
	return ""
}
