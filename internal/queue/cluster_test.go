package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// Five processes that start together on a fresh three-node cluster all
// set up the three-replica streams: a create left unanswered (as
// concurrent first creates of one replicated stream are) is tried again.
func TestProcessesStartingTogetherOnAClusterSetUpTheStreams(t *testing.T) {
	t.Parallel()
	c, err := devenv.NewNATSCluster(3, devenv.NATSOptions{})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, js, err := queue.Connect(context.Background(), c.URL(), t.Name(), testenv.Logger(t))
			if err != nil {
				errs[i] = err
				return
			}
			defer nc.Close()
			q := queue.New(js, "")
			q.Replicas = 3
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = q.Setup(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "process %d", i)
	}
}
