package queue

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// A job published for a broadcast after its consumers were removed (a
// second publish of a job already done, a page in flight when the
// broadcast ended, a replay's job whose dispatcher died before it reopened
// the recipient) has no consumer to take it: in a work queue it would stay
// for ever, counted in the depth. Each refresh, a scheduler gives the
// finished broadcasts that have jobs at its stage and no consumer there
// their consumer back. The jobs are taken as any other: one for a
// recipient already final changes nothing and is acked, a replay's job
// (a later round) reopens its recipient, as a replay counts on; once they
// are done the consumer is idle and goes again. Purging them instead
// would drop that replay.

// sweepStrays puts back the consumers of the finished broadcasts that have
// jobs at the scheduler's stage; consumers are the broadcasts that have a
// consumer there.
func (s *Scheduler) sweepStrays(ctx context.Context, consumers []BroadcastConsumer) {
	stream, err := s.q.js.Stream(ctx, s.q.stream)
	if err != nil {
		s.log.Warn("stray jobs: read the stream", zap.Error(err))
		return
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(s.q.subjectAll(s.cfg.Stage)))
	if err != nil {
		s.log.Warn("stray jobs: read the stream", zap.Error(err))
		return
	}
	if len(info.State.Subjects) == 0 {
		return
	}
	have := make(map[string]bool, len(consumers))
	for _, c := range consumers {
		have[c.BroadcastID] = true
	}
	for subj, n := range info.State.Subjects {
		tenant, id, ok := s.q.broadcastOf(string(s.cfg.Stage), subj)
		if !ok || have[id] || !s.finished(ctx, id) {
			continue
		}
		log := s.log.With(zap.String("broadcast_id", id), zap.String("tenant_id", tenant))
		if err := s.q.EnsureConsumers(ctx, tenant, id, broadcast.PriorityNormal, s.cfg.Stage); err != nil {
			log.Warn("jobs of a finished broadcast without a consumer: consumer not put back", zap.Error(err))
			continue
		}
		log.Info("jobs of a finished broadcast without a consumer: consumer put back to take them", zap.Uint64("jobs", n))
	}
}

// broadcastOf reads the tenant and broadcast of a job's subject at stage.
func (q *Queue) broadcastOf(stage string, subject string) (tenant, id string, ok bool) {
	rest, ok := strings.CutPrefix(subject, q.prefix+"."+stage+".")
	if !ok {
		return "", "", false
	}
	tenant, id, ok = strings.Cut(rest, ".")
	return tenant, id, ok && id != ""
}
