package send_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// poisonConnector panics on every send to one user's conversation until
// it is cured, as a bug met by one recipient's data would.
type poisonConnector struct {
	send.Connector
	st     *store.Store
	tenant string
	user   string
	cured  atomic.Bool
}

func (c *poisonConnector) Send(ctx context.Context, conv string, activity []byte) (string, error) {
	convs, err := c.st.Conversations(ctx, c.tenant, []string{c.user})
	if err == nil && convs[c.user] == conv && !c.cured.Load() {
		var poison map[string]int
		poison["send"]++
	}
	return c.Connector.Send(ctx, conv, activity)
}

// A send job that panics does not take its sender down: the panic is
// logged with its stack, the recipient ends failed (internal_error) in
// the broadcast's counters, so the broadcast completes, and a replay
// sends it once the bug is gone.
func TestPoisonJobFailsItsRecipientOnly(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.ErrorLevel)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), NoSenders: true, LogCore: core})
	users := e.Users()
	ids := []string{users[0].ID, users[1].ID, users[2].ID}
	poisoned := &poisonConnector{Connector: e.Connector, st: e.Store, tenant: e.Tenant, user: ids[1]}
	e.StartSender("sender", poisoned, 0)

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "poison"}, Audience: broadcast.Audience{UserIDs: ids}})
	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, broadcast.Counts{Total: 3, Sent: 2, Failed: 1}, got.Counts)
	ctx := context.Background()
	rec, err := e.Store.Recipient(ctx, b.ID, ids[1])
	require.NoError(t, err)
	require.Equal(t, broadcast.ReasonInternalError, rec.Reason)
	require.Contains(t, rec.LastError, "panic: assignment to entry in nil map")
	require.Empty(t, e.Sim.UserDeliveries(e.Tenant, ids[1]))

	panics := logs.FilterMessage("job panicked: dead-lettered").All()
	require.Len(t, panics, 1, "one delivery, dead-lettered at once")
	require.Contains(t, panics[0].ContextMap()["stack"], "(*poisonConnector).Send")
	var kept []broadcast.Failure
	require.NoError(t, e.Queue.Failures(ctx, e.Tenant, b.ID, func(f broadcast.Failure) error { kept = append(kept, f); return nil },
		func(uint64, error) {}))
	require.Len(t, kept, 1)
	require.Equal(t, broadcast.ReasonInternalError, kept[0].Reason)

	// The sender lives on: the replay's job is its.
	poisoned.cured.Store(true)
	res, err := e.Dispatcher.Replay(ctx, b.ID, &broadcast.ReplayRequest{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Queued)
	got = e.WaitFor(b.ID, 2*time.Minute, "sent to everyone", func(b *broadcast.Broadcast) bool {
		return b.Status == broadcast.StatusCompleted && b.Counts.Sent == 3
	})
	require.Equal(t, broadcast.Counts{Total: 3, Sent: 3, Replayed: 1}, got.Counts)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, ids[1]), 1)
	require.Zero(t, e.Sim.Ledger().Duplicates)
}

// An install job dead-lettered (it panicked, or kept failing) ends its
// recipient failed with internal_error and is kept for a replay; the
// broadcast completes.
func TestInstallDeadLetterFailsTheRecipient(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), NoWorkers: true})
	ctx := context.Background()
	user := e.Users()[0].ID
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "install"}, Audience: broadcast.Audience{UserIDs: []string{user}}})
	msg := e.Next(queue.ConsumerName(broadcast.StageInstall, b.ID))
	require.NoError(t, e.Installer.DeadLetter(ctx, msg, &queue.PanicError{Value: "bug"}))
	require.NoError(t, msg.Term())

	got := e.WaitCompleted(b.ID, time.Minute)
	require.Equal(t, broadcast.Counts{Total: 1, Failed: 1}, got.Counts)
	rec, err := e.Store.Recipient(ctx, b.ID, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.ReasonInternalError, rec.Reason)
	require.Equal(t, "panic: bug", rec.LastError)
	n := 0
	require.NoError(t, e.Queue.Failures(ctx, e.Tenant, b.ID, func(f broadcast.Failure) error {
		n++
		require.Equal(t, broadcast.StageInstall, f.Stage)
		return nil
	}, func(uint64, error) {}))
	require.Equal(t, 1, n)
}
