package queue

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// A job in a worker's hands is kept there by its heartbeat: every
// HeartbeatInterval, while the handler runs, the Scheduler tells the server
// the job is in progress (which restarts its AckWait) and runs the renewals
// the handler registered with OnHeartbeat, such as its claim's lease in
// Redis. Slow work (a wait for the tenant's budget, an HTTP call up to its
// timeout) is never redelivered under a live worker, and a worker that dies
// stops beating: its jobs come back one AckWait after its last beat, when
// its claims run out too. (asynq extends its tasks' leases the same way.)

// HeartbeatInterval is how often a job in hand is heartbeaten: three beats
// per AckWait, so two may be lost before the server redelivers the job.
const HeartbeatInterval = AckWait / 3

// MaxHold bounds how long heartbeats keep one job: a handler still running
// after it is stuck (every call it makes has a timeout far shorter), so its
// context is cancelled and the job left to its AckWait.
const MaxHold = 10 * time.Minute

// ErrLost is what a renewal returns when the work it keeps is no longer
// this worker's (settled, or taken over): it is not called again.
var ErrLost = errors.New("no longer held")

// errHeldTooLong cancels a handler that outlived MaxHold.
var errHeldTooLong = errors.New("job held longer than queue.MaxHold")

type heartbeatKey struct{}

// heartbeat is the renewals of one job in hand.
type heartbeat struct {
	mu       sync.Mutex
	renewals []func(context.Context) error
}

// OnHeartbeat registers renew to run at each heartbeat of the job whose
// handler's context is ctx, until the handler returns or renew returns
// ErrLost. It does nothing when ctx has no heartbeat (a handler called
// outside a Scheduler).
func OnHeartbeat(ctx context.Context, renew func(context.Context) error) {
	hb, ok := ctx.Value(heartbeatKey{}).(*heartbeat)
	if !ok {
		return
	}
	hb.mu.Lock()
	hb.renewals = append(hb.renewals, renew)
	hb.mu.Unlock()
}

// beat runs one job's heartbeat until ctx ends. cancelJob cancels the
// handler's context once MaxHold has passed.
func (hb *heartbeat) beat(ctx context.Context, m jetstream.Msg, cancelJob context.CancelCauseFunc, log *zap.Logger) {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	deadline := time.Now().Add(MaxHold)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Now().After(deadline) {
			log.Error("job held too long: cancelled, left to its AckWait", zap.String("subject", m.Subject()), zap.Duration("max_hold", MaxHold))
			cancelJob(errHeldTooLong)
			return
		}
		if err := m.InProgress(); err != nil {
			// The next beats may get through; if none does within AckWait,
			// the job is redelivered and the handler's claim refuses it.
			log.Warn("heartbeat", zap.String("subject", m.Subject()), zap.Error(err))
		}
		hb.renew(ctx, m, log)
	}
}

// renew runs the job's renewals, each bounded by one interval.
func (hb *heartbeat) renew(ctx context.Context, m jetstream.Msg, log *zap.Logger) {
	hb.mu.Lock()
	renewals := append([]func(context.Context) error(nil), hb.renewals...)
	hb.mu.Unlock()
	var keep []func(context.Context) error
	lost := false
	for _, renew := range renewals {
		rctx, cancel := context.WithTimeout(ctx, HeartbeatInterval)
		err := renew(rctx)
		cancel()
		switch {
		case errors.Is(err, ErrLost):
			lost = true
			log.Debug("heartbeat: no longer held", zap.String("subject", m.Subject()))
			continue
		case err != nil && ctx.Err() == nil:
			log.Warn("heartbeat: renewal failed", zap.String("subject", m.Subject()), zap.Error(err))
		}
		keep = append(keep, renew)
	}
	if lost {
		hb.mu.Lock()
		// Renewals registered meanwhile are kept too.
		hb.renewals = append(keep, hb.renewals[len(renewals):]...)
		hb.mu.Unlock()
	}
}

// work runs handle on m under a heartbeat that stops when it returns, before
// the job is settled, and turns a panic of it into a *PanicError. beatCtx
// ends when the Scheduler stops: a handler left running then is no longer
// kept.
func work(workCtx, beatCtx context.Context, m jetstream.Msg, handle Handler, log *zap.Logger) (err error) {
	ctx, cancelJob := context.WithCancelCause(workCtx)
	defer cancelJob(nil)
	hb := &heartbeat{}
	ctx = context.WithValue(ctx, heartbeatKey{}, hb)
	bctx, stop := context.WithCancel(beatCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hb.beat(bctx, m, cancelJob, log)
	}()
	defer func() { stop(); <-done }()
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return handle(ctx, m)
}
