package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClusterReadyTimeout bounds how long a new cluster may take to agree that
// every slot is served (cluster_state:ok on every node).
const redisClusterReadyTimeout = 30 * time.Second

// redisGroup is redis-server children started together, stopped together.
type redisGroup struct {
	dir   string
	procs []*redisProc
}

// start runs one more child in its own subdirectory of g.dir, on a free
// port (tried again if another process takes it first). args(port) are
// its arguments; sentinel starts it as a sentinel from a config file.
func (g *redisGroup) start(ctx context.Context, bin string, args func(port int, dir string) ([]string, error)) (*redisProc, error) {
	dir := filepath.Join(g.dir, "node"+strconv.Itoa(len(g.procs)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redis node dir: %w", err)
	}
	for try := 1; ; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		a, err := args(port, dir)
		if err != nil {
			return nil, err
		}
		p, err := runRedisProc(ctx, bin, port, dir, a)
		if err == nil {
			g.procs = append(g.procs, p)
			return p, nil
		}
		if !errors.Is(err, errPortTaken) || try == redisPortTries {
			return nil, err
		}
	}
}

func (g *redisGroup) close() error {
	for _, p := range g.procs {
		p.shutdown()
	}
	g.procs = nil
	if err := os.RemoveAll(g.dir); err != nil {
		return fmt.Errorf("remove redis dir: %w", err)
	}
	return nil
}

// RedisCluster is a Redis Cluster of three masters (no replicas), each a
// redis-server child on free ports of 127.0.0.1, for tests that must run
// on a Cluster: every script and transaction there must keep to one slot.
type RedisCluster struct {
	g     redisGroup
	addrs []string
}

// NewRedisCluster starts three redis-server children in cluster mode with
// their data and logs under dir (a fresh temporary directory when empty;
// Close removes it either way), joins them with `redis-cli --cluster
// create` and waits until every node reports cluster_state:ok.
func NewRedisCluster(ctx context.Context, dir string) (*RedisCluster, error) {
	bin, err := redisServerBin()
	if err != nil {
		return nil, err
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli is not on PATH (it comes with redis-server, e.g. `apt-get install redis-tools`): %w", err)
	}
	if dir, err = groupDir(dir, "devenv-redis-cluster-"); err != nil {
		return nil, err
	}
	c := &RedisCluster{g: redisGroup{dir: dir}}
	for range 3 {
		p, err := c.g.start(ctx, bin, func(port int, dir string) ([]string, error) {
			// The cluster bus needs a port of its own: port+10000 by
			// default, which may be taken or out of range.
			bus, err := freePort()
			if err != nil {
				return nil, err
			}
			return []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--daemonize", "no",
				"--save", "", "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
				"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"}, nil
		})
		if err != nil {
			_ = c.g.close()
			return nil, fmt.Errorf("start cluster node: %w", err)
		}
		c.addrs = append(c.addrs, p.addr)
	}
	if err := c.create(ctx, cli); err != nil {
		_ = c.g.close()
		return nil, err
	}
	return c, nil
}

// create assigns the slots and waits until every node agrees.
func (c *RedisCluster) create(ctx context.Context, cli string) error {
	cctx, cancel := context.WithTimeout(ctx, redisClusterReadyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(cctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w\n%s", err, lastLines(string(out), 10))
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := c.stateOK(cctx)
		if ok {
			return nil
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("redis cluster %s: not ok within %s (last: %v)", strings.Join(c.addrs, ","), redisClusterReadyTimeout, err)
		case <-tick.C:
		}
	}
}

// stateOK reports whether every node says cluster_state:ok.
func (c *RedisCluster) stateOK(ctx context.Context) (bool, error) {
	for _, addr := range c.addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
		info, err := rdb.ClusterInfo(ctx).Result()
		_ = rdb.Close()
		if err != nil {
			return false, err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return false, fmt.Errorf("%s: cluster_state is not ok", addr)
		}
	}
	return true, nil
}

// URL is the cluster's REDIS_URL: every node a seed.
func (c *RedisCluster) URL() string {
	u := "redis+cluster://" + c.addrs[0]
	for i, a := range c.addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Addrs are the masters' addresses.
func (c *RedisCluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close stops every node and removes the directory.
func (c *RedisCluster) Close() error { return c.g.close() }

// RedisSentinel is a master, one replica of it and one sentinel watching
// them under the name SentinelMaster, for tests of REDIS_URL's sentinel
// form.
type RedisSentinel struct {
	g        redisGroup
	sentinel string
	master   string
}

// SentinelMaster is the name the sentinel knows the master by.
const SentinelMaster = "broadcast"

// NewRedisSentinel starts the master, the replica and the sentinel (a
// redis-server --sentinel) under dir (a fresh temporary directory when
// empty; Close removes it either way), and waits until the sentinel
// answers with the master's address.
func NewRedisSentinel(ctx context.Context, dir string) (*RedisSentinel, error) {
	bin, err := redisServerBin()
	if err != nil {
		return nil, err
	}
	if dir, err = groupDir(dir, "devenv-redis-sentinel-"); err != nil {
		return nil, err
	}
	s := &RedisSentinel{g: redisGroup{dir: dir}}
	plain := func(extra ...string) func(int, string) ([]string, error) {
		return func(port int, dir string) ([]string, error) {
			return append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--daemonize", "no",
				"--save", "", "--appendonly", "no"}, extra...), nil
		}
	}
	master, err := s.g.start(ctx, bin, plain())
	if err != nil {
		_ = s.g.close()
		return nil, fmt.Errorf("start sentinel's master: %w", err)
	}
	s.master = master.addr
	host, port, _ := strings.Cut(master.addr, ":")
	if _, err := s.g.start(ctx, bin, plain("--replicaof", host, port)); err != nil {
		_ = s.g.close()
		return nil, fmt.Errorf("start sentinel's replica: %w", err)
	}
	sent, err := s.g.start(ctx, bin, func(p int, dir string) ([]string, error) {
		// A sentinel rewrites its config file: it must be its own.
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nsentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %s 5000\n", p, dir, SentinelMaster, host, port, SentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("sentinel config: %w", err)
		}
		return []string{conf, "--sentinel"}, nil
	})
	if err != nil {
		_ = s.g.close()
		return nil, fmt.Errorf("start sentinel: %w", err)
	}
	s.sentinel = sent.addr
	if err := s.waitMaster(ctx); err != nil {
		_ = s.g.close()
		return nil, err
	}
	return s, nil
}

// waitMaster waits until the sentinel names the master.
func (s *RedisSentinel) waitMaster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinel, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
	defer sc.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		if err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == s.master {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel %s: no master %q within %s (last: %v %v)", s.sentinel, SentinelMaster, redisReadyTimeout, addr, err)
		case <-tick.C:
		}
	}
}

// URL is the REDIS_URL that finds the master through the sentinel.
func (s *RedisSentinel) URL() string {
	return "redis+sentinel://" + s.sentinel + "/0?master_name=" + SentinelMaster
}

// Master is the master's address.
func (s *RedisSentinel) Master() string { return s.master }

// Close stops the sentinel, the replica and the master and removes the
// directory.
func (s *RedisSentinel) Close() error { return s.g.close() }

// groupDir makes dir, or a fresh temporary directory named after pattern.
func groupDir(dir, pattern string) (string, error) {
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", pattern)
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return "", fmt.Errorf("redis dir: %w", err)
	}
	return filepath.Abs(dir)
}
