package queue

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Budgets tells how long a tenant is paused and how far ahead its shared
// request budget is booked.
type Budgets interface {
	Budget(ctx context.Context, tenant string) (pausedFor, bookedAhead time.Duration, err error)
}

// Broadcasts tells whether a broadcast is finished (completed, or gone), so
// that its consumers can go, and counts the failed attempts of its jobs
// across processes.
type Broadcasts interface {
	Finished(ctx context.Context, id string) (bool, error)
	// JobFailed counts one more failed attempt of the broadcast's job
	// named job and returns how many it has had.
	JobFailed(ctx context.Context, id, job string) (int, error)
}

// SchedulerConfig tunes a Scheduler.
type SchedulerConfig struct {
	// Stage is the stage whose jobs are scheduled.
	Stage broadcast.Stage
	// Concurrency bounds the jobs of one tenant in this process's hands.
	Concurrency int
	// Limit, when set, is asked before each fetch how many of a tenant's
	// jobs may be in hand now (at least 1, at most Concurrency, which is
	// then a ceiling): an InFlight follows the tenant's rate and latency.
	Limit func(tenant string) int
	// Budgets, when set, holds back a tenant's jobs while it is paused or
	// its budget is booked Horizon ahead (the senders'); RPS is the
	// tenants' configured rate, which with Horizon bounds how many jobs are
	// fetched at once.
	Budgets Budgets
	RPS     float64
	// Horizon is how far ahead a tenant's budget may be booked before this
	// process fetches more of its jobs (default 1 s). Jobs are fetched when
	// the tenant can take them soon, not to wait in a worker's hands.
	Horizon time.Duration
	// Quantum bounds the jobs fetched from one broadcast in one turn while
	// other broadcasts of the tenant have jobs too (default 8): the grain of
	// the fair share.
	Quantum int
	// Refresh is how often the broadcasts with send jobs are listed (default 500 ms).
	Refresh time.Duration
	// Grace is how long jobs in flight may take to finish after Run's
	// context is done; then their contexts are cancelled.
	Grace time.Duration
	// DeadLetter records the jobs that will not be delivered again (see
	// Handler). Without it such a job is only terminated and logged.
	DeadLetter DeadLetter
	// MaxFailures is how many failed attempts (not Retry's waits) a job
	// has before it is dead-lettered. Default DefaultMaxFailures.
	MaxFailures int
}

// Scheduler takes the jobs of one stage from the broadcasts' consumers and
// runs a handler on each; the handler's error is the job's fate (see
// Handler). While the handler runs, the job is heartbeaten (see
// HeartbeatInterval); a panic of the handler is recovered and dead-letters
// the job, and the process carries on.
//
// Each tenant has a lane: it fetches a tenant's jobs only while fewer than
// Concurrency (or Limit's answer) of them are in hand and, with Budgets, while the tenant is not
// paused and its shared budget is booked less than Horizon ahead. So a slow
// or throttled tenant holds back its own jobs (in the stream, not in a
// worker) and never the other tenants', and nothing is fetched only to be
// handed back.
//
// Within a lane, broadcasts share the tenant's budget by smooth weighted
// round robin: each turn the broadcast with the largest credit gives up to
// Quantum jobs; credits grow by the broadcast's priority weight. Broadcasts
// without waiting jobs are skipped until they have some.
type Scheduler struct {
	cfg        SchedulerConfig
	q          *Queue
	broadcasts Broadcasts
	handle     Handler
	log        *zap.Logger

	lanes map[string]*lane // by tenant; only Run's goroutine touches it
}

// NewScheduler returns a Scheduler of q's jobs at cfg.Stage that runs handle
// on each.
func NewScheduler(cfg SchedulerConfig, q *Queue, broadcasts Broadcasts, handle Handler, log *zap.Logger) *Scheduler {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = time.Second
	}
	if cfg.Quantum <= 0 {
		cfg.Quantum = 8
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 500 * time.Millisecond
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 20 * time.Second
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	return &Scheduler{cfg: cfg, q: q, broadcasts: broadcasts, handle: handle, log: log, lanes: make(map[string]*lane)}
}

// Run schedules jobs until ctx is done, then stops fetching, lets the jobs
// in hand finish within Grace, cancels those left, and returns once they
// have (or 5 s after the cancellation, whichever is first).
func (s *Scheduler) Run(ctx context.Context) error {
	// Jobs get their own context: shutdown first stops fetching, and
	// cancels work in flight only after the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	// Heartbeats last until Run returns: a job still in hand then is left
	// to its AckWait and its claim to its lease.
	beatCtx, stopBeats := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBeats()
	var lanes, jobs sync.WaitGroup

	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for ctx.Err() == nil {
		s.refresh(ctx, workCtx, beatCtx, &lanes, &jobs)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	lanes.Wait() // no more fetching

	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.Grace):
		s.log.Warn("grace period over: cancelling work in flight", zap.Duration("grace", s.cfg.Grace))
		cancelWork()
		select {
		case <-done:
		case <-time.After(cancelWait):
			// A handler stuck past its cancellation (say, recording a
			// delivery while Redis is away) must not hold the process:
			// its heartbeat stops when Run returns, so its job is
			// redelivered one AckWait later, when its claim's lease runs
			// out too.
			s.log.Error("jobs still running after their cancellation: leaving them to their leases", zap.Duration("waited", cancelWait))
		}
	}
	return nil
}

// cancelWait is how long Run waits, once the grace period is over and the
// jobs in flight are cancelled, for them to return.
const cancelWait = 5 * time.Second

// refresh brings the lanes up to date with the broadcasts that have a
// consumer at the stage, and removes the consumers of finished broadcasts.
func (s *Scheduler) refresh(ctx, workCtx, beatCtx context.Context, lanes, jobs *sync.WaitGroup) {
	list, err := s.q.Consumers(ctx, s.cfg.Stage)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list broadcasts with jobs", zap.Error(err))
		}
		return
	}
	byTenant := make(map[string][]BroadcastConsumer)
	for _, c := range list {
		if c.Idle() && s.finished(ctx, c.BroadcastID) {
			s.remove(ctx, c)
			continue
		}
		if !broadcast.IsGUID(c.TenantID) {
			s.log.Warn("consumer without a tenant: skipped", zap.String("consumer", c.Name))
			continue
		}
		byTenant[c.TenantID] = append(byTenant[c.TenantID], c)
	}
	for tenant, cs := range byTenant {
		l, ok := s.lanes[tenant]
		if !ok {
			l = s.newLane(tenant)
			s.lanes[tenant] = l
			lanes.Add(1)
			go func() {
				defer lanes.Done()
				l.run(ctx, workCtx, beatCtx, jobs)
			}()
		}
		l.update(cs)
	}
	for tenant, l := range s.lanes {
		if _, ok := byTenant[tenant]; !ok {
			l.update(nil)
		}
	}
	s.sweepStrays(ctx, list)
}

// finished reports whether a broadcast is completed, or has no record.
func (s *Scheduler) finished(ctx context.Context, id string) bool {
	done, err := s.broadcasts.Finished(ctx, id)
	return err == nil && done
}

// remove deletes a finished broadcast's consumers, at every stage: the
// last scheduler to notice it does not have to be of each stage. A replay
// reopens a broadcast, and an edit or a recall starts, before it makes
// sure of its consumers, so one that is no longer finished after a delete
// has its consumers back. The sending's go first, then (still finished)
// the edit's and recall's: a replay racing the removal meets the same
// steps as before edits existed.
func (s *Scheduler) remove(ctx context.Context, c BroadcastConsumer) {
	for pass, stages := range [][]broadcast.Stage{Stages, ChangeStages} {
		for _, stage := range stages {
			if err := s.q.DeleteConsumer(ctx, stage, c.BroadcastID); err != nil {
				s.log.Warn("remove a finished broadcast's consumer", zap.String("broadcast_id", c.BroadcastID), zap.Error(err))
			}
		}
		if s.finished(ctx, c.BroadcastID) {
			continue
		}
		// Reopened: those deleted so far come back (a change's own
		// consumers were not deleted if the sending's are all it lost).
		recreate := Stages
		if pass == 1 {
			recreate = AllStages
		}
		if err := s.q.EnsureConsumers(ctx, c.TenantID, c.BroadcastID, c.Priority, recreate...); err != nil {
			s.log.Error("recreate a reopened broadcast's consumers", zap.String("broadcast_id", c.BroadcastID), zap.Error(err))
		}
		return
	}
}

func (s *Scheduler) newLane(tenant string) *lane {
	return &lane{s: s, tenant: tenant, log: s.log.With(zap.String("tenant_id", tenant)),
		flows: make(map[string]*flow), wake: make(chan struct{}, 1)}
}

// lane fetches and runs one tenant's jobs.
type lane struct {
	s      *Scheduler
	tenant string
	log    *zap.Logger
	wake   chan struct{} // a job finished, or the broadcasts changed

	mu       sync.Mutex
	flows    map[string]*flow // by broadcast id
	inFlight int
}

// flow is one broadcast's jobs within a lane.
type flow struct {
	id        string
	name      string
	weight    int
	credit    int
	cons      jetstream.Consumer // looked up at the first fetch
	idleUntil time.Time          // no jobs were there: look again then
	backoff   time.Duration
}

// Idle flows are looked at again after a backoff that doubles up to
// maxIdleBackoff; a refresh that lists waiting jobs looks at once.
const (
	minIdleBackoff = 20 * time.Millisecond
	maxIdleBackoff = time.Second
)

func (l *lane) update(cs []BroadcastConsumer) {
	l.mu.Lock()
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		seen[c.BroadcastID] = true
		f, ok := l.flows[c.BroadcastID]
		if !ok {
			f = &flow{id: c.BroadcastID, name: c.Name}
			l.flows[c.BroadcastID] = f
			l.log.Info("working on broadcast", zap.String("stage", string(l.s.cfg.Stage)), zap.String("broadcast_id", c.BroadcastID), zap.String("priority", string(c.Priority)))
		}
		f.weight = c.Priority.Weight()
		if c.Pending > 0 {
			f.idleUntil = time.Time{}
		}
	}
	for id := range l.flows {
		if !seen[id] {
			delete(l.flows, id)
		}
	}
	l.mu.Unlock()
	l.signal()
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run fetches the tenant's jobs while the tenant can take them and runs
// each in its own goroutine, owned by jobs, under a heartbeat.
func (l *lane) run(ctx, workCtx, beatCtx context.Context, jobs *sync.WaitGroup) {
	for ctx.Err() == nil {
		if wait := l.readyIn(); wait > 0 {
			l.sleep(ctx, wait)
			continue
		}
		n, wait := l.room(ctx)
		if n == 0 {
			l.sleep(ctx, wait)
			continue
		}
		f := l.pick()
		if f == nil {
			continue
		}
		msgs, err := l.fetch(ctx, f, n)
		if err != nil && ctx.Err() == nil {
			l.log.Warn("fetch jobs", zap.String("stage", string(l.s.cfg.Stage)), zap.String("broadcast_id", f.id), zap.Error(err))
		}
		l.mu.Lock()
		if len(msgs) == 0 {
			f.backoff = min(max(2*f.backoff, minIdleBackoff), maxIdleBackoff)
			f.idleUntil = time.Now().Add(f.backoff)
		} else {
			f.backoff = 0
		}
		l.inFlight += len(msgs)
		l.mu.Unlock()
		for _, m := range msgs {
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				l.s.settle(workCtx, f.id, m, work(workCtx, beatCtx, m, l.s.handle, l.log), l.log)
				l.mu.Lock()
				l.inFlight--
				l.mu.Unlock()
				l.signal()
			}()
		}
	}
}

// room returns how many jobs may be fetched now, or 0 and how long to wait.
func (l *lane) room(ctx context.Context) (int, time.Duration) {
	limit := l.s.cfg.Concurrency
	if l.s.cfg.Limit != nil {
		limit = min(limit, max(1, l.s.cfg.Limit(l.tenant)))
	}
	l.mu.Lock()
	free := limit - l.inFlight
	l.mu.Unlock()
	if free <= 0 {
		return 0, time.Second // until a job finishes
	}
	if l.s.cfg.Budgets == nil {
		return free, 0
	}
	paused, ahead, err := l.s.cfg.Budgets.Budget(ctx, l.tenant)
	if err != nil {
		// Redis is away: the gates fall back to their own buckets, and
		// the concurrency bound alone holds the lane back.
		return free, 0
	}
	if paused > 0 {
		return 0, paused
	}
	room := l.s.cfg.Horizon - ahead
	if room <= 0 {
		return 0, min(-room+10*time.Millisecond, 100*time.Millisecond)
	}
	if l.s.cfg.RPS > 0 {
		free = min(free, max(1, int(math.Ceil(room.Seconds()*l.s.cfg.RPS))))
	}
	return free, 0
}

// readyIn returns how long until a broadcast of the lane may have jobs
// (0: one may now).
func (l *lane) readyIn() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	wait := maxIdleBackoff
	for _, f := range l.flows {
		if !now.Before(f.idleUntil) {
			return 0
		}
		wait = min(wait, f.idleUntil.Sub(now))
	}
	return wait
}

// pick chooses the broadcast to fetch from by smooth weighted round robin
// among those that may have jobs (nil if none).
func (l *lane) pick() *flow {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var best *flow
	total := 0
	for _, f := range l.flows {
		if now.Before(f.idleUntil) {
			continue
		}
		f.credit += f.weight
		total += f.weight
		if best == nil || f.credit > best.credit {
			best = f
		}
	}
	if best != nil {
		best.credit -= total
	}
	return best
}

// fetch takes up to n jobs of the flow's broadcast that are waiting now,
// fewer when other broadcasts of the tenant are waiting too.
func (l *lane) fetch(ctx context.Context, f *flow, n int) ([]jetstream.Msg, error) {
	l.mu.Lock()
	if len(l.flows) > 1 {
		n = min(n, l.s.cfg.Quantum)
	}
	cons := f.cons
	l.mu.Unlock()
	if cons == nil {
		c, err := l.s.q.Consumer(ctx, f.name)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		f.cons, cons = c, c
		l.mu.Unlock()
	}
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		return nil, err
	}
	msgs := make([]jetstream.Msg, 0, n)
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return msgs, err
	}
	return msgs, nil
}

func (l *lane) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-l.wake:
	}
}
