package pipelinetest_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// terminated is JetStream's advisory for a message a consumer terminated
// (io.nats.jetstream.advisory.v1.terminated).
type terminated struct {
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
}

// Malformed jobs on a live broadcast's install and send subjects, taken by
// the real installer and sender through their schedulers, are terminated
// on their first delivery and logged, never redelivered; the broadcast's
// own jobs are unaffected.
func TestMalformedJobsAreTerminatedNotRedelivered(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 20, InstalledFraction: 0.5, Seed: 3}, LogCore: core})
	ctx := context.Background()

	var mu sync.Mutex
	advisories := map[uint64][]terminated{}
	sub, err := e.JS.Conn().Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+e.Queue.Stream()+".*", func(m *nats.Msg) {
		var a terminated
		if json.Unmarshal(m.Data, &a) == nil {
			mu.Lock()
			advisories[a.StreamSeq] = append(advisories[a.StreamSeq], a)
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, e.JS.Conn().Flush())

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "still delivered"}, Audience: broadcast.Audience{AllUsers: true}})
	stranger := uuid.NewString() // a well-formed job for a user the broadcast does not have
	garbage := map[broadcast.Stage][]string{
		broadcast.StageInstall: {`not JSON at all`, `{"b":"` + b.ID + `","t":"` + e.Tenant + `","u":"bob@contoso.com"}`,
			`{"b":"` + b.ID + `","t":"` + e.Tenant + `","u":"` + stranger + `"}`},
		broadcast.StageSend: {"\x00\xff\xfe", `{"b":"` + b.ID + `","t":"nope"}`,
			`{"b":"` + b.ID + `","t":"` + e.Tenant + `","u":"` + stranger + `"}`},
	}
	subjects := map[uint64]string{}
	for stage, bodies := range garbage {
		subj := e.Queue.Subject(stage, broadcast.Job{TenantID: e.Tenant, BroadcastID: b.ID})
		for _, body := range bodies {
			ack, err := e.JS.Publish(ctx, subj, []byte(body))
			require.NoError(t, err)
			subjects[ack.Sequence] = subj
		}
	}

	e.WaitCompleted(b.ID, 2*time.Minute)
	testenv.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for seq := range subjects {
			if len(advisories[seq]) == 0 {
				return false
			}
		}
		return true
	}, "every malformed job is terminated")

	mu.Lock()
	for seq, subj := range subjects {
		require.Len(t, advisories[seq], 1, "job %d on %s terminated once", seq, subj)
		require.EqualValues(t, 1, advisories[seq][0].Deliveries, "job %d terminated on its first delivery", seq)
		require.NotEmpty(t, advisories[seq][0].Reason, "the reason is recorded with the termination")
	}
	mu.Unlock()

	// Nothing of the broadcast is left in the stream to redeliver: its own
	// jobs were acked and the malformed ones went with their termination.
	// A job is acked after its outcome is recorded, so the last acks may
	// reach the server a moment after the broadcast completed.
	s, err := e.JS.Stream(ctx, e.Queue.Stream())
	require.NoError(t, err)
	for _, stage := range []broadcast.Stage{broadcast.StageInstall, broadcast.StageSend} {
		subj := e.Queue.Subject(stage, broadcast.Job{TenantID: e.Tenant, BroadcastID: b.ID})
		testenv.Eventually(t, 20*time.Second, func() bool {
			info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
			require.NoError(t, err)
			return info.State.Subjects[subj] == 0
		}, "no message left on "+subj)
	}

	// Each was reported once, with its subject (tenant and broadcast).
	reported := map[string]int{}
	for _, entry := range logs.FilterMessage("job terminated").All() {
		subj, _ := entry.ContextMap()["subject"].(string)
		reported[subj]++
		require.Equal(t, zapcore.ErrorLevel, entry.Level)
		require.NotEmpty(t, entry.ContextMap()["error"])
	}
	require.Equal(t, map[string]int{
		e.Queue.Subject(broadcast.StageInstall, broadcast.Job{TenantID: e.Tenant, BroadcastID: b.ID}): 3,
		e.Queue.Subject(broadcast.StageSend, broadcast.Job{TenantID: e.Tenant, BroadcastID: b.ID}):    3,
	}, reported)

	got, err := e.Store.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	var members int64
	for _, u := range e.Users() {
		if u.UserType != "Guest" {
			members++
		}
	}
	require.Equal(t, members, got.Counts.Total, "the malformed jobs added no recipient")
	require.Equal(t, members, got.Counts.Done())
}
