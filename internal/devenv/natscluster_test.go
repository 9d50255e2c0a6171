package devenv

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// A stream with three replicas on a three-node cluster keeps every
// acknowledged message when any one node stops, takes new ones while it is
// away, and has them all once it is back.
func TestNATSClusterKeepsAStreamThroughANodeLoss(t *testing.T) {
	t.Parallel()
	c, err := NewNATSCluster(3, NATSOptions{})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.Equal(t, 3, c.Size())

	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := t.Context()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"R3.>"}, Storage: jetstream.FileStorage, Replicas: 3})
	require.NoError(t, err)
	// Each message is published until acknowledged, with an id, so that a
	// retry after a lost answer is not stored twice.
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			require.Eventually(t, func() bool {
				_, err := js.Publish(ctx, "R3.x", fmt.Appendf(nil, "m%d", i), jetstream.WithMsgID(fmt.Sprint(i)))
				return err == nil
			}, clusterReadyTimeout, 50*time.Millisecond, "message %d", i)
		}
	}
	var info *jetstream.StreamInfo
	require.Eventually(t, func() bool {
		info, err = s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	}, clusterReadyTimeout, 50*time.Millisecond, "the stream has a leader and two replicas")
	publish(0, 100)
	// Stop the stream's leader: the hardest node to lose.
	leader := c.Named(info.Cluster.Leader)
	require.NotNil(t, leader, "the stream's leader %q is a node of the cluster", info.Cluster.Leader)
	leader.Stop()
	// The two left elect a new leader; publishing goes on (retried while
	// the election runs).
	publish(100, 200)
	require.NoError(t, leader.Start())
	require.NoError(t, c.waitJetStream())

	require.Eventually(t, func() bool {
		info, err = s.Info(ctx)
		if err != nil || info.State.Msgs != 200 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Lag > 0 {
				return false
			}
		}
		return true
	}, clusterReadyTimeout, 50*time.Millisecond, "the node back has caught up")
	got := fetchAll(t, c.URL(), "R3")
	want := make([]string, 200)
	for i := range want {
		want[i] = fmt.Sprintf("m%d", i)
	}
	require.Equal(t, want, got, "every message once, in order")
}

func TestNATSClusterNeedsThreeNodes(t *testing.T) {
	t.Parallel()
	_, err := NewNATSCluster(2, NATSOptions{})
	require.ErrorContains(t, err, "at least 3 nodes")
}
