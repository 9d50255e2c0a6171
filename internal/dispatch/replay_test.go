package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// A scheduler may remove a broadcast's consumers in the middle of a replay:
// the recipients queued so far settle, every recipient is final for a
// moment, and the broadcast completes until the next reopen. The replay
// puts the consumers back, or its later jobs would never be consumed.
func TestReplayKeepsConsumersRemovedMidway(t *testing.T) {
	t.Parallel()
	b := setup(t, 20, zaptest.NewLogger(t))
	d := b.dispatcher(nil)
	b.run(d)
	ctx := context.Background()
	var users []string
	for _, u := range b.sim.Users(b.tenant) {
		if u.UserType != "Guest" && len(users) < 5 {
			users = append(users, u.ID)
		}
	}
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "replay"}, Audience: broadcast.Audience{UserIDs: users}}
	require.NoError(t, req.Normalize())
	bc, err := d.Create(ctx, &req)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.expanded(bc.ID) }, time.Minute, 20*time.Millisecond)

	// Every recipient fails its install, is kept for replay, and the
	// broadcast completes.
	for _, u := range users {
		r, err := b.st.Recipient(ctx, bc.ID, u)
		require.NoError(t, err)
		_, err = b.st.Transition(ctx, bc.ID, u, store.Change{From: []broadcast.State{r.State}, To: broadcast.StateFailed,
			Reason: broadcast.ReasonInstallFailed, LastError: "graph kept failing"})
		require.NoError(t, err)
		require.NoError(t, b.q.PublishFailure(ctx, broadcast.Failure{Job: broadcast.Job{BroadcastID: bc.ID, TenantID: b.tenant, UserID: u},
			Stage: broadcast.StageInstall, State: broadcast.StateFailed, Reason: broadcast.ReasonInstallFailed, At: time.Now()}))
	}
	got, err := b.st.Broadcast(ctx, bc.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCompleted, got.Status)

	removed := false
	d.OnReplayedOne(func() {
		if removed {
			return
		}
		removed = true
		for _, stage := range queue.Stages {
			require.NoError(t, b.q.DeleteConsumer(ctx, stage, bc.ID))
		}
	})
	res, err := d.Replay(ctx, bc.ID, &broadcast.ReplayRequest{})
	require.NoError(t, err)
	require.Equal(t, len(users), res.Queued)
	require.True(t, removed)
	for _, stage := range queue.Stages {
		_, err := b.q.Consumer(ctx, queue.ConsumerName(stage, bc.ID))
		require.NoError(t, err, "the %s consumer is back", stage)
	}
	install, _ := b.jobs(bc.ID)
	require.Equal(t, uint64(2*len(users)), install, "the expansion's jobs (no worker here) and the replay's")
}
