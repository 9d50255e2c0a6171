// Package autopipe runs the Redis scripts that concurrent callers issue at
// the same moment in one pipeline: one write and one read for the batch,
// in this process and in Redis, instead of one of each per call.
//
// It is a group commit without a timer: a call that finds no batch in
// flight is sent at once, in a batch of its own; the calls that arrive
// meanwhile wait, and when that batch is answered they leave together (up
// to MaxBatch). A call alone costs what a plain call does, plus a
// goroutine switch; under load the batches grow with the number of
// callers, by themselves. (A Redis Cluster client splits a pipeline by
// node, so a batch costs one round trip per node.)
package autopipe

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxBatch bounds the calls of one pipeline.
const MaxBatch = 256

// flushTimeout bounds one batch's pipeline. The client's own read and write
// timeouts usually end it first; this bounds the retries too.
const flushTimeout = 10 * time.Second

// Pipe batches the script calls made through it on one client. Each batch
// is sent by a goroutine of its own, which ends once the batch is answered
// (within flushTimeout) and starts the next one if calls wait.
type Pipe struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	pending []*call
	busy    bool // a batch is in flight
}

type call struct {
	script *redis.Script
	keys   []string
	args   []any
	res    *redis.Cmd
	done   chan struct{}
}

// New returns a Pipe on rdb.
func New(rdb redis.UniversalClient) *Pipe { return &Pipe{rdb: rdb} }

// Run runs script as redis.Script.Run does (EVALSHA, then EVAL if Redis
// does not have it), in one pipeline with the calls of other callers.
// When ctx ends first, Run returns its error at once: a call still
// waiting is never sent; one already sent may have run, as a plain call
// cut off by its context may have.
func (p *Pipe) Run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	p.mu.Lock()
	p.pending = append(p.pending, c)
	if !p.busy {
		p.busy = true
		p.nextLocked()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.res
	case <-ctx.Done():
	}
	p.mu.Lock()
	if i := slices.Index(p.pending, c); i >= 0 {
		p.pending = slices.Delete(p.pending, i, i+1)
	}
	p.mu.Unlock()
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(ctx.Err())
	return cmd
}

// nextLocked sends the calls waiting now (up to MaxBatch) in a goroutine;
// p.mu is held.
func (p *Pipe) nextLocked() {
	n := min(len(p.pending), MaxBatch)
	batch := p.pending[:n:n]
	p.pending = slices.Clone(p.pending[n:])
	go p.send(batch)
}

// send runs a batch in one pipeline, answers its callers, and sends the
// next batch if calls wait.
func (p *Pipe) send(batch []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if len(batch) == 1 {
		c := batch[0]
		c.res = c.script.Run(ctx, p.rdb, c.keys, c.args...)
	} else {
		pipe := p.rdb.Pipeline()
		for _, c := range batch {
			c.res = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		_, _ = pipe.Exec(ctx) // each call's error is its own
		for _, c := range batch {
			if isNoScript(c.res.Err()) {
				c.res = c.script.Run(ctx, p.rdb, c.keys, c.args...)
			}
		}
	}
	for _, c := range batch {
		close(c.done)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		p.busy = false
		return
	}
	p.nextLocked()
}

// isNoScript reports whether Redis did not have the script (it restarted,
// or its scripts were flushed): EVAL loads it again.
func isNoScript(err error) bool {
	var rerr redis.Error
	return err != nil && errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOSCRIPT")
}
