package send_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A short broadcast created while a long one is sending is not queued behind
// it: broadcasts of the tenant share its send budget, and an urgent one takes
// most of it. The long broadcast is slowed by the simulator's latency and a
// small concurrency, so its pace does not depend on this machine's speed.
func TestShortBroadcastIsNotQueuedBehindALongOne(t *testing.T) {
	t.Parallel()
	const users = 300
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: users, InstalledFraction: 1, Latency: 40 * time.Millisecond, Seed: 41,
	}, SendConcurrency: 4})
	all := broadcast.Audience{AllUsers: true}
	warm := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "warm-up: fills the conversation cache"}, Audience: all})
	e.WaitCompleted(warm.ID, 2*time.Minute)
	var ten []string
	for _, u := range e.Users()[:10] {
		ten = append(ten, u.ID)
	}

	for _, prio := range []broadcast.Priority{broadcast.PriorityNormal, broadcast.PriorityUrgent} {
		long := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "long " + string(prio)}, Audience: all})
		testenv.Eventually(t, time.Minute, func() bool { return sent(t, e, long.ID) >= 30 }, "the long broadcast is sending")
		short := e.Create(broadcast.CreateRequest{Priority: prio, Message: broadcast.Message{Text: "short " + string(prio)},
			Audience: broadcast.Audience{UserIDs: ten}})
		short = e.WaitCompleted(short.ID, 2*time.Minute)
		require.EqualValues(t, 10, short.Counts.Sent)
		left := long.Counts.Total
		if b, err := e.Store.Broadcast(context.Background(), long.ID); err == nil {
			left = b.Counts.Total - b.Counts.Sent
		}
		require.Greater(t, left, int64(users/2), "the %s short broadcast completed while the long one had most of its recipients left", prio)
		e.WaitCompleted(long.ID, 2*time.Minute)
	}
	require.Zero(t, e.Sim.Ledger().Duplicates)
}

// A completed broadcast's consumers are removed; the stream keeps no
// consumer for work that is done.
func TestCompletedBroadcastLosesItsConsumers(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled()})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "done soon"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitCompleted(b.ID, 2*time.Minute)
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, stage := range queue.Stages {
			cs, err := e.Queue.Consumers(context.Background(), stage)
			require.NoError(t, err)
			for _, c := range cs {
				if c.BroadcastID == b.ID {
					return false
				}
			}
		}
		return true
	}, "the consumers of the completed broadcast are removed")
}

func sent(t *testing.T, e *pipelinetest.Env, id string) int64 {
	b, err := e.Store.Broadcast(context.Background(), id)
	require.NoError(t, err)
	return b.Counts.Sent
}
