package send_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
)

// takeoverDeadline bounds the wait for a killed sender's recipient: well
// above AckWait on a loaded machine, far below the 60 s AckWait of old.
const takeoverDeadline = 30 * time.Second

// holdingConnector never answers: a sender that calls it holds its job
// until the test ends, as one killed with its request on the way would.
type holdingConnector struct {
	held    chan struct{}
	release chan struct{}
}

func (c *holdingConnector) Send(context.Context, string, []byte) (string, error) {
	select {
	case c.held <- struct{}{}:
	default:
	}
	<-c.release
	return "", errors.New("the process was killed")
}

// A sender that holds a recipient keeps it while it lives, however long
// (its heartbeat renews the job and the claim): another delivery of the
// recipient's job is refused. Killed, its recipient is taken over by the
// live sender within seconds, sent once, counted as a possible duplicate,
// and the broadcast completes.
func TestKilledSendersRecipientIsTakenOver(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), NoSenders: true})
	ctx := context.Background()
	hold := &holdingConnector{held: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(hold.release) // before the processes' cleanup waits for their handlers
	victim := e.StartSender("victim", hold, 1)

	var ids []string
	for _, u := range e.Users()[:10] {
		ids = append(ids, u.ID)
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "takeover"}, Audience: broadcast.Audience{UserIDs: ids}})
	select {
	case <-hold.held:
	case <-time.After(takeoverDeadline):
		t.Fatal("the victim never took a job")
	}
	sending, _, err := e.Store.Recipients(ctx, b.ID, broadcast.StateSending, "", 10)
	require.NoError(t, err)
	require.Len(t, sending, 1, "the victim holds one recipient")
	user := sending[0].UserID

	// A live sender, and a second job of the held recipient (as a replay
	// or a redelivery would bring) for it to refuse.
	e.StartSender("survivor", nil, 0)
	require.NoError(t, e.Queue.PublishBatch(ctx, []queue.Item{{Stage: broadcast.StageSend,
		Job: broadcast.Job{BroadcastID: b.ID, TenantID: e.Tenant, UserID: user}, MsgID: "again-" + user}}))
	e.WaitFor(b.ID, takeoverDeadline, "every other recipient sent", func(b *broadcast.Broadcast) bool { return b.Counts.Sent == 9 })
	cons, err := e.Queue.Consumer(ctx, queue.ConsumerName(broadcast.StageSend, b.ID))
	require.NoError(t, err)
	// Two AckWaits: without the heartbeat the victim's job would have been
	// redelivered and its claim taken over by now.
	deadline := time.Now().Add(2 * queue.AckWait)
	for time.Now().Before(deadline) {
		rec, err := e.Store.Recipient(ctx, b.ID, user)
		require.NoError(t, err)
		require.Equal(t, broadcast.StateSending, rec.State, "not taken over while its sender lives")
		require.Equal(t, 1, rec.Attempts)
		time.Sleep(100 * time.Millisecond)
	}
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Positive(t, info.NumRedelivered, "the second job was refused (handed back), not acked")
	require.Empty(t, e.Sim.UserDeliveries(e.Tenant, user))

	victim.Kill()
	killed := time.Now()
	got := e.WaitCompleted(b.ID, takeoverDeadline)
	t.Logf("the killed sender's recipient was sent %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	require.EqualValues(t, 10, got.Counts.Sent)
	require.EqualValues(t, 1, got.Counts.PossibleDuplicates, "the takeover of a claim that may have been sent is counted")
	rec, err := e.Store.Recipient(ctx, b.ID, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.StateSent, rec.State)
	require.Equal(t, 2, rec.Attempts)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, user), 1)
	require.Zero(t, e.Sim.Ledger().Duplicates)
}
