package redisclient

import (
	"context"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterReload bounds how stale a cluster client's map of the slots can
// get without an error to tell it: go-redis' default is a minute.
const clusterReload = 5 * time.Second

// newCluster is the client of a Redis Cluster. Besides what go-redis does
// (it reloads the map of the slots on a MOVED), a connection refused by a
// node reloads it: when a master dies its replica takes over its slots,
// and no MOVED comes from a dead node. Without this, the client sent the
// commands of those slots to the dead master until the periodic reload,
// a minute later.
func newCluster(o *redis.ClusterOptions) *redis.ClusterClient {
	o.ClusterStateReloadInterval = clusterReload
	c := redis.NewClusterClient(o)
	c.OnNewNode(func(node *redis.Client) { node.AddHook(reloadOnDialError{c}) })
	return c
}

// reloadOnDialError asks the cluster client for a new map of the slots
// when a node cannot be reached. The reload is asynchronous and coalesced.
type reloadOnDialError struct{ c *redis.ClusterClient }

func (h reloadOnDialError) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.c.ReloadState(ctx)
		}
		return conn, err
	}
}

func (reloadOnDialError) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (reloadOnDialError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
