package queue

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// A job published for a broadcast after its consumers were removed (a
// second publish of a job already done, a page in flight when the
// broadcast ended) has no consumer to take it: in a work queue it would
// stay for ever, counted in the depth. Each refresh, a scheduler purges
// the jobs at its stage of broadcasts that have no consumer there and are
// finished. Only jobs stored before the broadcast was seen finished go: a
// replay that reopens it publishes after, and puts its consumers back.

// sweepStrays purges the stray jobs at the scheduler's stage; consumers
// are the broadcasts that have a consumer there.
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
	// Every job stored so far is at or before last; read before the
	// broadcasts are asked whether they are finished.
	last := info.State.LastSeq
	have := make(map[string]bool, len(consumers))
	for _, c := range consumers {
		have[c.BroadcastID] = true
	}
	for subj := range info.State.Subjects {
		tenant, id, ok := s.q.broadcastOf(string(s.cfg.Stage), subj)
		if !ok || have[id] || !s.finished(ctx, id) {
			continue
		}
		err := stream.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(last+1))
		log := s.log.With(zap.String("broadcast_id", id), zap.String("tenant_id", tenant))
		if err != nil {
			log.Warn("stray jobs of a finished broadcast not purged", zap.Error(err))
			continue
		}
		log.Info("purged the stray jobs of a finished broadcast", zap.Uint64("jobs", info.State.Subjects[subj]))
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
