package devenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Failover timing of the highly available Redis below: a master that stops
// answering is declared down after haDownAfter, and its replica takes over
// within a few seconds more. Production runs slower (Sentinel's default is
// 30 s, a Cluster's node timeout 15 s); the chaos suite wants several
// failovers in a short broadcast.
const (
	haDownAfter     = 1500 * time.Millisecond
	haFailoverLimit = 60 * time.Second // a failover or a resync must be done by then
)

// RedisHA is Redis with a replica for each master that takes over when the
// master dies, every node with an append-only file fsynced on each write
// (as in production): Sentinel (one master, one replica, three sentinels
// with a quorum of two) or a Cluster (three masters, three replicas). The
// chaos suite kills a master (KillMaster), waits for the failover and
// starts the dead node again (Restart), which rejoins as a replica.
type RedisHA struct {
	cluster bool
	cli     string
	g       redisGroup
	url     string

	mu    sync.Mutex
	nodes []*haNode // the data nodes (not the sentinels)
	sents []string  // the sentinels' addresses
}

// haNode is a data node: how to start it again on its port and data.
type haNode struct {
	bin, dir string
	port     int
	args     []string
	proc     *redisProc // nil while dead
}

func (n *haNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// haNodeArgs are a data node's arguments: AOF with appendfsync always, a
// replica's first sync at once (Redis waits 5 s by default, for more
// replicas to share it), and extra.
func haNodeArgs(port int, dir string, extra ...string) []string {
	return append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--daemonize", "no",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--repl-diskless-sync-delay", "0"}, extra...)
}

// inSync checks that the node at addr is a replica whose link to its
// master is up: its first sync is done. Sentinel promotes a replica that
// never synced as readily as one that did (a test of this package's first
// version lost every key so).
func inSync(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
	defer rdb.Close()
	repl, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(repl, "role:slave") || !strings.Contains(repl, "master_link_status:up") {
		return fmt.Errorf("%s is not a replica in sync yet", addr)
	}
	return nil
}

// startNode starts one more data node with args(port, dir).
func (h *RedisHA) startNode(ctx context.Context, bin string, args func(port int, dir string) ([]string, error)) (*haNode, error) {
	n := &haNode{bin: bin}
	p, err := h.g.start(ctx, bin, func(port int, dir string) ([]string, error) {
		a, err := args(port, dir)
		n.port, n.dir, n.args = port, dir, a
		return a, err
	})
	if err != nil {
		return nil, err
	}
	n.proc = p
	h.nodes = append(h.nodes, n)
	return n, nil
}

func haBinaries() (bin, cli string, err error) {
	if bin, err = exec.LookPath("redis-server"); err != nil {
		return "", "", fmt.Errorf("redis-server is not on PATH (install it, e.g. `apt-get install redis-server`): %w", err)
	}
	if cli, err = exec.LookPath("redis-cli"); err != nil {
		return "", "", fmt.Errorf("redis-cli is not on PATH (it comes with redis-server, e.g. `apt-get install redis-tools`): %w", err)
	}
	return bin, cli, nil
}

// NewRedisSentinelHA starts a master, its replica and three sentinels
// under dir (a fresh temporary directory when empty; Close removes it
// either way) and waits until every sentinel knows the master.
func NewRedisSentinelHA(ctx context.Context, dir string) (_ *RedisHA, err error) {
	bin, cli, err := haBinaries()
	if err != nil {
		return nil, err
	}
	if dir, err = groupDir(dir, "devenv-redis-ha-"); err != nil {
		return nil, err
	}
	h := &RedisHA{cli: cli, g: redisGroup{dir: dir}}
	defer func() {
		if err != nil {
			_ = h.Close()
		}
	}()
	master, err := h.startNode(ctx, bin, func(port int, dir string) ([]string, error) { return haNodeArgs(port, dir), nil })
	if err != nil {
		return nil, fmt.Errorf("start the master: %w", err)
	}
	mhost, mport, _ := strings.Cut(master.addr(), ":")
	replica, err := h.startNode(ctx, bin, func(port int, dir string) ([]string, error) {
		return haNodeArgs(port, dir, "--replicaof", mhost, mport), nil
	})
	if err != nil {
		return nil, fmt.Errorf("start the replica: %w", err)
	}
	for range 3 {
		p, err := h.g.start(ctx, bin, func(port int, dir string) ([]string, error) {
			// A sentinel rewrites its config file: each its own.
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nsentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\n",
				port, dir, SentinelMaster, mhost, mport, SentinelMaster, haDownAfter.Milliseconds(), SentinelMaster)
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				return nil, fmt.Errorf("sentinel config: %w", err)
			}
			return []string{conf, "--sentinel"}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("start a sentinel: %w", err)
		}
		h.sents = append(h.sents, p.addr)
	}
	h.url = "redis+sentinel://" + h.sents[0] + "/0?master_name=" + SentinelMaster
	for _, s := range h.sents[1:] {
		h.url += "&addr=" + s
	}
	if err := h.waitUntil(ctx, "the replica is in sync and every sentinel knows it", func(ctx context.Context) error {
		if err := inSync(ctx, replica.addr()); err != nil {
			return err
		}
		for _, s := range h.sents {
			if err := sentinelSees(ctx, s, master.addr(), 1); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return h, nil
}

// sentinelSees checks that the sentinel at addr names master as the
// master, with at least replicas replicas.
func sentinelSees(ctx context.Context, addr, master string, replicas int) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: %w", addr, err)
	}
	if len(got) != 2 || got[0]+":"+got[1] != master {
		return fmt.Errorf("sentinel %s names %v as the master, not %s", addr, got, master)
	}
	rs, err := sc.Replicas(ctx, SentinelMaster).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: replicas: %w", addr, err)
	}
	if len(rs) < replicas {
		return fmt.Errorf("sentinel %s knows %d replicas, not %d", addr, len(rs), replicas)
	}
	return nil
}

// NewRedisClusterHA starts a Redis Cluster of three masters, each with a
// replica, under dir (a fresh temporary directory when empty; Close
// removes it either way), and waits until every node reports
// cluster_state:ok.
func NewRedisClusterHA(ctx context.Context, dir string) (_ *RedisHA, err error) {
	bin, cli, err := haBinaries()
	if err != nil {
		return nil, err
	}
	if dir, err = groupDir(dir, "devenv-redis-ha-"); err != nil {
		return nil, err
	}
	h := &RedisHA{cluster: true, cli: cli, g: redisGroup{dir: dir}}
	defer func() {
		if err != nil {
			_ = h.Close()
		}
	}()
	var addrs []string
	for range 6 {
		n, err := h.startNode(ctx, bin, func(port int, dir string) ([]string, error) {
			bus, err := freePort() // the cluster bus: port+10000 may be taken or out of range
			if err != nil {
				return nil, err
			}
			return haNodeArgs(port, dir, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
				"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", strconv.FormatInt(haDownAfter.Milliseconds(), 10)), nil
		})
		if err != nil {
			return nil, fmt.Errorf("start a cluster node: %w", err)
		}
		addrs = append(addrs, n.addr())
	}
	cctx, cancel := context.WithTimeout(ctx, redisClusterReadyTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(cctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, lastLines(string(out), 10))
	}
	h.url = "redis+cluster://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	if err := h.waitUntil(ctx, "the cluster is ok with three masters and three replicas", h.clusterOK); err != nil {
		return nil, err
	}
	return h, nil
}

// clusterOK checks that every live node says cluster_state:ok and that
// three masters each have a replica linked to them.
func (h *RedisHA) clusterOK(ctx context.Context) error {
	masters, replicas := 0, 0
	for _, n := range h.live() {
		rdb := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
		info, err := rdb.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = rdb.Info(ctx, "replication").Result()
		}
		_ = rdb.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.addr(), err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", n.addr())
		}
		switch {
		case strings.Contains(repl, "role:master"):
			masters++
		case strings.Contains(repl, "master_link_status:up"):
			replicas++
		}
	}
	if masters != 3 || replicas != 3 {
		return fmt.Errorf("%d masters and %d replicas in sync, not 3 and 3", masters, replicas)
	}
	return nil
}

// URL is REDIS_URL for the services: the sentinels, or the cluster's nodes.
func (h *RedisHA) URL() string { return h.url }

// live returns the data nodes that run.
func (h *RedisHA) live() []*haNode {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*haNode
	for _, n := range h.nodes {
		if n.proc != nil {
			out = append(out, n)
		}
	}
	return out
}

// masterOf returns the live node that is the master for key (Sentinel:
// the one master).
func (h *RedisHA) masterOf(ctx context.Context, key string) (*haNode, error) {
	var slot int64 = -1
	for _, n := range h.live() {
		rdb := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
		repl, err := rdb.Info(ctx, "replication").Result()
		if err == nil && h.cluster && slot < 0 {
			slot, err = rdb.ClusterKeySlot(ctx, key).Result()
		}
		var owns bool
		if err == nil && h.cluster && strings.Contains(repl, "role:master") {
			owns, err = ownsSlot(ctx, rdb, slot)
		}
		_ = rdb.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.addr(), err)
		}
		if strings.Contains(repl, "role:master") && (!h.cluster || owns) {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no live master for %q", key)
}

// ownsSlot reports whether the node rdb talks to serves slot.
func ownsSlot(ctx context.Context, rdb *redis.Client, slot int64) (bool, error) {
	id, err := rdb.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return false, err
	}
	shards, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return false, err
	}
	for _, s := range shards {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].ID == id, nil
		}
	}
	return false, nil
}

// KillMaster kills -9 the master that holds key (any key under the
// prefix: the slot of its hash tag) and waits until its replica has taken
// over. It returns the killed node's address, for Restart.
func (h *RedisHA) KillMaster(ctx context.Context, key string) (string, error) {
	n, err := h.masterOf(ctx, key)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	p := n.proc
	n.proc = nil
	h.mu.Unlock()
	p.kill()
	err = h.waitUntil(ctx, "a replica takes over from "+n.addr(), func(ctx context.Context) error {
		m, err := h.masterOf(ctx, key)
		if err != nil {
			return err
		}
		if h.cluster {
			return nil
		}
		for _, s := range h.sents {
			if err := sentinelSees(ctx, s, m.addr(), 0); err != nil {
				return err
			}
		}
		return nil
	})
	return n.addr(), err
}

// Restart starts the node at addr again on its port and data, and waits
// until it has rejoined as a replica in sync with its master.
func (h *RedisHA) Restart(ctx context.Context, addr string) error {
	h.mu.Lock()
	var n *haNode
	for _, c := range h.nodes {
		if c.addr() == addr && c.proc == nil {
			n = c
		}
	}
	h.mu.Unlock()
	if n == nil {
		return fmt.Errorf("no dead node at %s", addr)
	}
	p, err := runRedisProc(ctx, n.bin, n.port, n.dir, n.args)
	if err != nil {
		return fmt.Errorf("restart %s: %w", addr, err)
	}
	h.mu.Lock()
	n.proc = p
	h.g.procs = append(h.g.procs, p) // for Close
	h.mu.Unlock()
	return h.waitUntil(ctx, addr+" rejoins as a replica in sync", func(ctx context.Context) error {
		if err := inSync(ctx, addr); err != nil {
			return err
		}
		if h.cluster {
			return h.clusterOK(ctx)
		}
		return nil
	})
}

// waitUntil polls check until it succeeds or haFailoverLimit has passed.
func (h *RedisHA) waitUntil(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, haFailoverLimit)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis: %s: not within %s (last: %w)", what, haFailoverLimit, err)
		case <-tick.C:
		}
	}
}

// Close stops every node and sentinel and removes the directory.
func (h *RedisHA) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.nodes {
		n.proc = nil
	}
	return h.g.close()
}
