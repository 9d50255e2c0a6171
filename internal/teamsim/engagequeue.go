package teamsim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// engager holds the planned engagements until their time and hands them
// to a fixed number of posters. Its goroutines belong to the bot poster:
// Close stops them; whatever is still planned then is dropped (counted).
type engager struct {
	s       *Sim
	workers int
	max     int

	mu   sync.Mutex
	due  dueHeap
	wake chan struct{} // a nudge: engagements were added
	work chan engagement
}

func newEngager(s *Sim) *engager {
	e := s.cfg.Engagement
	return &engager{s: s, workers: e.Concurrency, max: e.MaxPending, wake: make(chan struct{}, 1), work: make(chan engagement)}
}

// start runs the scheduler and the posters under p.
func (e *engager) start(p *botPoster) {
	p.wg.Add(1 + e.workers)
	go func() {
		defer p.wg.Done()
		e.schedule(p.ctx)
	}()
	for range e.workers {
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.ctx.Done():
					return
				case g := <-e.work:
					e.s.engage(p.ctx, g)
					e.s.led.engage.pending.Add(-1)
				}
			}
		}()
	}
}

// add plans engagements; those over MaxPending are dropped.
func (e *engager) add(plan []engagement) {
	if e == nil || len(plan) == 0 {
		return
	}
	led := &e.s.led.engage
	e.mu.Lock()
	for _, g := range plan {
		if len(e.due) >= e.max {
			led.dropped.Add(1)
			continue
		}
		heap.Push(&e.due, g)
		led.pending.Add(1)
	}
	e.mu.Unlock()
	select { // the scheduler looks at the earliest again
	case e.wake <- struct{}{}:
	default:
	}
}

// schedule hands each engagement to a poster at its time, until ctx ends;
// then it drops the rest.
func (e *engager) schedule(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	defer e.drop()
	for {
		e.mu.Lock()
		var wait time.Duration = -1
		var next engagement
		ready := false
		if len(e.due) > 0 {
			if wait = time.Until(e.due[0].due); wait <= 0 {
				next, ready = heap.Pop(&e.due).(engagement), true
			}
		}
		e.mu.Unlock()
		if ready {
			select {
			case e.work <- next:
			case <-ctx.Done():
				e.s.led.engage.pending.Add(-1)
				e.s.led.engage.dropped.Add(1)
				return
			}
			continue
		}
		var timer <-chan time.Time
		if wait > 0 {
			t.Reset(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer:
		}
		t.Stop() // Go 1.23 timers: no stale tick after Stop or Reset
	}
}

// drop counts what is still planned as dropped.
func (e *engager) drop() {
	e.mu.Lock()
	n := int64(len(e.due))
	e.due = nil
	e.mu.Unlock()
	e.s.led.engage.pending.Add(-n)
	e.s.led.engage.dropped.Add(n)
}

// dueHeap orders engagements by their time.
type dueHeap []engagement

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(engagement)) }
func (h *dueHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = engagement{}
	*h = old[:n-1]
	return x
}
