package devenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is embedded nats-servers with JetStream forming one cluster
// on 127.0.0.1, for tests and the chaos suite: streams created with
// replicas = Size() keep a copy on every node, and a node can be stopped
// (as a crash would: its clients see the connection drop) and started
// again on the same ports and store.
type NATSCluster struct {
	nodes []*NATSServer
	dir   string
	own   bool
}

// clusterReadyTimeout bounds how long a new cluster may take to elect its
// JetStream meta leader.
const clusterReadyTimeout = 30 * time.Second

// NewNATSCluster starts size (at least 3: JetStream's replication needs a
// majority to survive a node) servers as one cluster, each with its store
// under opts.StoreDir (a fresh temporary directory when empty), and waits
// until JetStream answers. Close it when done.
func NewNATSCluster(size int, opts NATSOptions) (*NATSCluster, error) {
	if size < 3 {
		return nil, fmt.Errorf("a NATS cluster needs at least 3 nodes, not %d", size)
	}
	c := &NATSCluster{dir: opts.StoreDir}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "devenv-nats-cluster-")
		if err != nil {
			return nil, fmt.Errorf("nats cluster store dir: %w", err)
		}
		c.dir, c.own = dir, true
	}
	ports, err := freePorts(size)
	if err != nil {
		return nil, err
	}
	routes := make([]*url.URL, size)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	type started struct {
		i   int
		n   *NATSServer
		err error
	}
	// Every node waits for the others to elect a leader: start them together.
	done := make(chan started, size)
	for i := range size {
		o := opts
		o.StoreDir = filepath.Join(c.dir, fmt.Sprintf("n%d", i+1))
		o.cluster = &clusterNode{name: fmt.Sprintf("devenv-%d", i+1), port: ports[i], routes: routes}
		go func() {
			n, err := NewNATSServer(o)
			done <- started{i, n, err}
		}()
	}
	c.nodes = make([]*NATSServer, size)
	var errs []error
	for range size {
		s := <-done
		c.nodes[s.i] = s.n
		errs = append(errs, s.err)
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.waitJetStream(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freePorts asks the kernel for n free ports on 127.0.0.1. They are free
// when asked; the servers bind them a moment later.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitJetStream waits until every node is running and current, the meta
// leader sees all the others online and caught up (a stream with replicas
// on every node can be placed), and JetStream answers through every node.
func (c *NATSCluster) waitJetStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if last = c.checkMeta(); last == nil {
			if last = c.checkJetStream(ctx); last == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("NATS cluster: JetStream not ready after %s: %w", clusterReadyTimeout, last)
}

func (c *NATSCluster) checkMeta() error {
	leaders := 0
	for _, n := range c.nodes {
		srv := n.server()
		if srv == nil {
			return fmt.Errorf("%s is stopped", n.opts.cluster.name)
		}
		if !srv.JetStreamIsCurrent() {
			return fmt.Errorf("%s is not current", n.opts.cluster.name)
		}
		if !srv.JetStreamIsLeader() {
			continue
		}
		leaders++
		info, err := srv.Jsz(nil)
		if err != nil {
			return err
		}
		if info.Meta == nil || len(info.Meta.Replicas) != len(c.nodes)-1 {
			return errors.New("the meta leader does not know every peer yet")
		}
		for _, p := range info.Meta.Replicas {
			if !p.Current || p.Offline {
				return fmt.Errorf("peer %s is not online and current", p.Name)
			}
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d meta leaders", leaders)
	}
	return nil
}

func (c *NATSCluster) checkJetStream(ctx context.Context) error {
	for _, n := range c.nodes {
		nc, err := nats.Connect(n.URL(), nats.Timeout(time.Second), nats.MaxReconnects(0))
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.AccountInfo(actx)
			cancel()
		}
		nc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.URL(), err)
		}
	}
	return nil
}

// Size is the number of nodes.
func (c *NATSCluster) Size() int { return len(c.nodes) }

// URL is every node's client URL, comma-separated, as NATS clients take
// them: a client whose server stops reconnects to another.
func (c *NATSCluster) URL() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Node is the i-th server (0-based).
func (c *NATSCluster) Node(i int) *NATSServer { return c.nodes[i] }

// Named is the node with the server name JetStream's cluster information
// gives (a stream's leader, say), or nil.
func (c *NATSCluster) Named(name string) *NATSServer {
	for _, n := range c.nodes {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

// Close stops every node and removes the stores if NewNATSCluster created
// their directory.
func (c *NATSCluster) Close() {
	for _, n := range c.nodes {
		if n != nil {
			n.Close()
		}
	}
	if c.own {
		_ = os.RemoveAll(c.dir)
	}
}
