// Package autopipe runs the Redis scripts that concurrent callers issue at
// the same moment in one pipeline: one write and one read for the batch,
// in this process and in Redis, instead of one of each per call.
//
// It is a group commit, with no goroutine of its own and no timer: the
// first caller that finds no batch in flight sends the calls waiting now
// (its own among them, up to MaxBatch); the calls that arrive meanwhile
// wait, and when the batch is answered the first of them sends the next
// one. A call alone costs what a plain call does; under load the batches
// grow with the number of callers, by themselves. (A Redis Cluster client
// splits a pipeline by node, so a batch costs one round trip per node.)
package autopipe

import (
	"context"
	"errors"
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

// Pipe batches the script calls made through it on one client.
type Pipe struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	pending []*call
	busy    bool // a caller is sending a batch
}

type call struct {
	script *redis.Script
	keys   []string
	args   []any
	res    *redis.Cmd
	lead   bool // the waiting caller is to send the next batch
	done   chan struct{}
}

// New returns a Pipe on rdb.
func New(rdb redis.UniversalClient) *Pipe { return &Pipe{rdb: rdb} }

// Run runs script as redis.Script.Run does (EVALSHA, then EVAL if Redis
// does not have it), in one pipeline with the calls of other callers.
// A call already sent is not withdrawn when ctx ends: it is answered
// within flushTimeout, as a plain call would be within the client's
// timeouts.
func (p *Pipe) Run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	p.mu.Lock()
	p.pending = append(p.pending, c)
	lead := !p.busy
	p.busy = true
	p.mu.Unlock()
	if !lead {
		<-c.done
		if !c.lead {
			return c.res
		}
	}
	// This caller sends the calls waiting now, its own the first of them.
	p.mu.Lock()
	n := min(len(p.pending), MaxBatch)
	batch := p.pending[:n:n]
	p.pending = p.pending[n:]
	p.mu.Unlock()
	p.send(ctx, batch)
	p.mu.Lock()
	if len(p.pending) == 0 {
		p.busy = false
		p.mu.Unlock()
		return c.res
	}
	// The first caller waiting sends the next batch.
	next := p.pending[0]
	next.lead = true
	p.mu.Unlock()
	close(next.done)
	return c.res
}

// send runs a batch in one pipeline and answers its callers, all but one
// that is to lead (it carries on in Run itself).
func (p *Pipe) send(ctx context.Context, batch []*call) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
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
		if !c.lead {
			close(c.done)
		}
	}
}

// isNoScript reports whether Redis did not have the script (it restarted,
// or its scripts were flushed): EVAL loads it again.
func isNoScript(err error) bool {
	var rerr redis.Error
	return err != nil && errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOSCRIPT")
}
