package demo

import (
	"context"
	"fmt"
	"time"
)

// KillResult is a sender killed in the middle of the measured broadcast.
type KillResult struct {
	Name string
	// Done is how many recipients of the broadcast were done when it was
	// killed, and At how long after the broadcast's creation.
	Done int64
	At   time.Duration
}

// kill is the killing done in the background.
type kill struct {
	done chan struct{}
	res  *KillResult
	err  error
}

// startKill waits until the broadcast id is Options.KillAt done, then kills
// the first sender with SIGKILL, as a crash would, and leaves it dead: the
// other senders take its jobs over. wait returns what happened.
func (r *run) startKill(ctx context.Context, id string, created time.Time) *kill {
	k := &kill{}
	if r.o.KillAt <= 0 {
		return k
	}
	k.done = make(chan struct{})
	threshold := int64(r.o.KillAt * float64(expect(r.sim.Users(r.tenants[0])).Members))
	go func() {
		defer close(k.done)
		k.res, k.err = r.killSender(ctx, id, threshold, created)
	}()
	return k
}

func (k *kill) wait() (*KillResult, error) {
	if k.done == nil {
		return nil, nil
	}
	<-k.done
	return k.res, k.err
}

func (r *run) killSender(ctx context.Context, id string, threshold int64, created time.Time) (*KillResult, error) {
	for {
		b, err := r.api.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if done := b.Counts.Done(); done >= threshold {
			if _, err := r.procs.kill("sender"); err != nil {
				return nil, err
			}
			res := &KillResult{Name: "sender", Done: done, At: time.Since(created)}
			fmt.Fprintf(r.o.Out, "killed the sender (SIGKILL) with %d recipients done\n", done)
			return res, nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
