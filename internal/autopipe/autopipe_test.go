package autopipe_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/autopipe"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// counter counts the round trips of a client: single commands and pipelines
// (with their sizes); hold, when set, keeps the first single command from
// leaving until it is closed.
type counter struct {
	singles   atomic.Int64
	pipelines atomic.Int64
	mu        sync.Mutex
	sizes     []int
	hold      chan struct{}
	held      atomic.Bool
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.singles.Add(1)
		if c.hold != nil && c.held.CompareAndSwap(false, true) {
			<-c.hold
		}
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "evalsha" {
			return next(ctx, cmds) // the client's own (a new connection's HELLO)
		}
		c.pipelines.Add(1)
		c.mu.Lock()
		c.sizes = append(c.sizes, len(cmds))
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

var _ interface {
	DialHook(redis.DialHook) redis.DialHook
	ProcessHook(redis.ProcessHook) redis.ProcessHook
	ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook
} = (*counter)(nil)

func newClient(t *testing.T, c *counter) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testenv.Redis(t))
	require.NoError(t, err)
	opts.PoolSize = 4
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(c)
	return rdb
}

// incr adds ARGV[1] to KEYS[1] and returns the sum; a fresh source each
// test, so that Redis does not have it yet (EVALSHA answers NOSCRIPT).
func incr() *redis.Script {
	return redis.NewScript("-- " + uuid.NewString() + "\n" +
		"if ARGV[1] == 'boom' then return redis.error_reply('boom') end\n" +
		"local n = redis.call('INCRBY', KEYS[1], ARGV[1]); redis.call('PEXPIRE', KEYS[1], 60000); return n")
}

// inOneBatch makes call(0), which leaves alone and is held on its way (c's
// hold), then calls 1 to n-1, which arrive meanwhile and wait for it; once
// they all wait, it lets the first go, and returns every answer.
func inOneBatch(t *testing.T, p *autopipe.Pipe, c *counter, n int, call func(i int) *redis.Cmd) []*redis.Cmd {
	t.Helper()
	results := make([]*redis.Cmd, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0] = call(0) }()
	testenv.Eventually(t, 5*time.Second, func() bool { return c.held.Load() }, "the first call is on its way")
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = call(i) }()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return p.Waiting() == n-1 }, "the other calls wait")
	close(c.hold)
	wg.Wait()
	return results
}

func TestCallsWaitingTogetherGoInOnePipeline(t *testing.T) {
	t.Parallel()
	c := &counter{hold: make(chan struct{})}
	p := autopipe.New(newClient(t, c))
	script, ctx := incr(), context.Background()
	key := "autopipe:" + uuid.NewString()

	const n = 50
	results := inOneBatch(t, p, c, n, func(int) *redis.Cmd { return p.Run(ctx, script, []string{key}, 1) })

	seen := make(map[int64]bool)
	for i, r := range results {
		v, err := r.Int64()
		require.NoError(t, err, "call %d", i)
		seen[v] = true
	}
	require.Len(t, seen, n, "every call ran once")
	require.True(t, seen[1] && seen[n])
	require.Equal(t, int64(1), c.pipelines.Load(), "one pipeline for the %d calls that waited", n-1)
	require.Equal(t, []int{n - 1}, c.sizes)
	got, err := p.Run(ctx, script, []string{key}, 0).Int64()
	require.NoError(t, err)
	require.Equal(t, int64(n), got)
}

func TestEachCallHasItsOwnAnswerEvenUnloaded(t *testing.T) {
	t.Parallel()
	c := &counter{hold: make(chan struct{})}
	p := autopipe.New(newClient(t, c))
	script, first, ctx := incr(), incr(), context.Background()
	prefix := "autopipe:" + uuid.NewString()

	const n = 20
	results := inOneBatch(t, p, c, n, func(i int) *redis.Cmd {
		arg := any(i)
		switch {
		case i == 0:
			arg = 7
		case i%5 == 0:
			arg = "boom"
		}
		if i == 0 {
			// Another script: Redis meets this one first in the batch,
			// where EVALSHA answers NOSCRIPT and each call falls back to EVAL.
			return p.Run(ctx, first, []string{fmt.Sprintf("%s:%d", prefix, i)}, arg)
		}
		return p.Run(ctx, script, []string{fmt.Sprintf("%s:%d", prefix, i)}, arg)
	})

	for i, r := range results {
		v, err := r.Int64()
		switch {
		case i == 0:
			require.NoError(t, err)
			require.Equal(t, int64(7), v)
		case i%5 == 0:
			require.ErrorContains(t, err, "boom", "call %d", i)
		default:
			require.NoError(t, err, "call %d", i)
			require.Equal(t, int64(i), v, "call %d", i)
		}
	}
}

func TestAnUnreachableRedisFailsEveryCallOfTheBatch(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never answers: every call times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	p := autopipe.New(rdb)
	script := incr()

	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.Run(context.Background(), script, []string{"k"}, 1).Err() }()
	}
	wg.Wait()
	for i, err := range errs {
		require.Error(t, err, "call %d", i)
	}
	require.Zero(t, p.Waiting())
}

// A call whose context ends while it waits for a batch returns at once, and
// is never sent: a heartbeat's renewal must not outlive its interval.
func TestAWaitingCallLeavesWithItsContext(t *testing.T) {
	t.Parallel()
	c := &counter{hold: make(chan struct{})}
	p := autopipe.New(newClient(t, c))
	script := incr()
	first, second := "autopipe:"+uuid.NewString(), "autopipe:"+uuid.NewString()

	var wg sync.WaitGroup
	wg.Add(1)
	var firstErr error
	go func() { defer wg.Done(); firstErr = p.Run(context.Background(), script, []string{first}, 1).Err() }()
	testenv.Eventually(t, 5*time.Second, func() bool { return c.held.Load() }, "the first call is on its way")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Run(ctx, script, []string{second}, 1).Err()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, p.Waiting(), "the call left the queue")
	close(c.hold)
	wg.Wait()
	require.NoError(t, firstErr)

	rdb := newClient(t, &counter{})
	require.Equal(t, "1", rdb.Get(context.Background(), first).Val())
	n, err := rdb.Exists(context.Background(), second).Result()
	require.NoError(t, err)
	require.Zero(t, n, "the call that left was never sent")
	// The pipe goes on.
	got, err := p.Run(context.Background(), script, []string{second}, 2).Int64()
	require.NoError(t, err)
	require.Equal(t, int64(2), got)
}
