package pipelinetest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// On a three-node NATS cluster with the streams at three replicas, the
// node that leads the jobs stream stops mid-broadcast and comes back: the
// broadcast completes, every user has the message, and a user who got it
// twice is counted in possibleDuplicates.
func TestBroadcastThroughTheLossOfANATSNode(t *testing.T) {
	t.Parallel()
	c, err := devenv.NewNATSCluster(3, devenv.NATSOptions{})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 600, InstalledFraction: 1, ConnectorRPS: 100},
		NATSURL: c.URL(), NATSReplicas: 3})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "through a node loss"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitFor(b.ID, 2*time.Minute, "a sixth sent", func(b *broadcast.Broadcast) bool { return b.Counts.Sent >= 100 })

	s, err := e.JS.Stream(t.Context(), e.Queue.Stream())
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.NotNil(t, info.Cluster)
	require.Len(t, info.Cluster.Replicas, 2, "the jobs stream has a copy on every node")
	leader := c.Named(info.Cluster.Leader)
	require.NotNil(t, leader, "the stream's leader %q is a node of the cluster", info.Cluster.Leader)
	leader.Stop()
	e.WaitFor(b.ID, 2*time.Minute, "half sent without the node", func(b *broadcast.Broadcast) bool { return b.Counts.Sent >= 300 })
	require.NoError(t, leader.Start())

	b = e.WaitCompleted(b.ID, 3*time.Minute)
	require.Equal(t, b.Counts.Total, b.Counts.Sent, "%+v", b.Counts)
	require.Greater(t, b.Counts.Total, int64(500), "every member (not the guests) is a recipient")
	l := e.Sim.Ledger()
	require.Equal(t, b.Counts.Total, l.DeliveredUsers, "every recipient has the message")
	require.LessOrEqual(t, l.Duplicates, b.Counts.PossibleDuplicates, "every duplicate is counted")
	require.Zero(t, l.RetryAfterViolations)
}
