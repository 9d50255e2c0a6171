package pipelinetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// Jobs lost from the stream (NATS lost its last unsynced second) are
// rebuilt from the recipients waiting in Redis, and the broadcast then
// completes with every deliverable user delivered once.
func TestLostJobsAreRebuilt(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{NoWorkers: true, Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 1, Seed: 12}})
	ctx := context.Background()
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Lost and found"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitStatus(b.ID, broadcast.StatusSending, 2*time.Minute)
	require.Equal(t, int64(30), b.Counts.Installing)
	n, err := e.Queue.Purge(ctx, e.Tenant, b.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(30), n, "the jobs are gone")

	testenv.Eventually(t, 30*time.Second, func() bool {
		n, err := e.Queue.Jobs(ctx, e.Tenant, b.ID)
		return err == nil && n == 30
	}, "the 30 install jobs are rebuilt")

	// Workers take them as any job.
	h := e.Next(queue.ConsumerName(broadcast.StageInstall, b.ID))
	require.NoError(t, e.Installer.Handle(ctx, h))
	require.NoError(t, h.Ack())
	got, err := e.Store.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, int64(29), got.Counts.Installing)
	require.Equal(t, int64(1), got.Counts.Pending)
}

// A recipient left sending with no job (its final state lost with a Redis
// master's last writes, after its job was acked) gets a send job again
// once its claim's lease has run out, and the send takes the claim over:
// the broadcast completes, the resend counted as a possible duplicate.
func TestARecipientLeftSendingWithNoJobIsSentAgain(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{NoWorkers: true, Sim: teamsim.Config{UsersPerTenant: 1, InstalledFraction: 1, Seed: 13}})
	ctx := context.Background()
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Lost in a failover"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitStatus(b.ID, broadcast.StatusSending, 2*time.Minute)
	require.Equal(t, int64(1), b.Counts.Installing)

	// The installer finds the conversation; a sender claims the recipient
	// and dies, and the record of its send is lost with its job acked.
	h := e.Next(queue.ConsumerName(broadcast.StageInstall, b.ID))
	require.NoError(t, e.Installer.Handle(ctx, h))
	require.NoError(t, h.Ack())
	recs, _, err := e.Store.Recipients(ctx, b.ID, broadcast.StatePending, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	user := recs[0].UserID
	res, err := e.Store.Transition(ctx, b.ID, user, store.Change{
		From: []broadcast.State{broadcast.StatePending}, To: broadcast.StateSending, Owner: "a-dead-sender", Lease: time.Millisecond,
	})
	require.NoError(t, err)
	require.True(t, res.Applied)
	n, err := e.Queue.Purge(ctx, e.Tenant, b.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(1), n, "the send job is gone")

	testenv.Eventually(t, 30*time.Second, func() bool {
		n, err := e.Queue.Jobs(ctx, e.Tenant, b.ID)
		return err == nil && n == 1
	}, "a send job is rebuilt for the recipient left sending")
	h = e.Next(queue.ConsumerName(broadcast.StageSend, b.ID))
	require.NoError(t, e.Sender.Handle(ctx, h))
	require.NoError(t, h.Ack())
	got := e.WaitStatus(b.ID, broadcast.StatusCompleted, time.Minute)
	require.Equal(t, int64(1), got.Counts.Sent)
	require.Equal(t, int64(1), got.Counts.PossibleDuplicates, "the takeover of a claim may send twice")
}
