package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// UrgentResult is an urgent notice created in the middle of a broadcast.
type UrgentResult struct {
	Broadcast *broadcast.Broadcast
	// BigDone is how many recipients of the big broadcast were done when
	// the notice was created.
	BigDone int64
	// Elapsed is from the notice's creation until it completed, by the
	// dispatcher's clock (createdAt, completedAt).
	Elapsed time.Duration
}

// urgent is the notice being sent in the background.
type urgent struct {
	done chan struct{}
	res  *UrgentResult
	err  error
}

// startUrgent waits until the broadcast big is Options.UrgentAt done, then
// creates an urgent notice to Options.Urgent users of the first tenant and
// watches it to the end; wait returns its result.
func (r *run) startUrgent(ctx context.Context, big string) *urgent {
	u := &urgent{}
	if r.o.Urgent <= 0 {
		return u
	}
	u.done = make(chan struct{})
	tenant := r.tenants[0]
	users := r.sim.Users(tenant)
	audience := urgentAudience(users, r.o.Urgent)
	threshold := int64(r.o.UrgentAt * float64(expect(users).Members))
	// The goroutine notes the notice in r.want while the run only watches;
	// the run reads want after wait.
	msg := broadcast.Message{Text: "Urgent: the building is closed today. Please work from home."}
	go func() {
		defer close(u.done)
		u.res, u.err = r.sendUrgent(ctx, big, tenant, msg, audience, threshold)
	}()
	return u
}

func (u *urgent) wait() (*UrgentResult, error) {
	if u.done == nil {
		return nil, nil
	}
	<-u.done
	return u.res, u.err
}

func (r *run) sendUrgent(ctx context.Context, big, tenant string, msg broadcast.Message, audience []teamsim.User, threshold int64) (*UrgentResult, error) {
	var bigDone int64
	for {
		b, err := r.api.get(ctx, big)
		if err != nil {
			return nil, err
		}
		if bigDone = b.Counts.Done(); bigDone >= threshold || b.Status == broadcast.StatusCompleted {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	b, err := r.create(ctx, tenant, msg, audience, broadcast.PriorityUrgent)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.o.Out, "urgent notice %s to %d users accepted, %d of the broadcast done\n", b.ID, len(audience), bigDone)
	created := time.Now()
	for b.Status != broadcast.StatusCompleted {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%s did not complete: %w (counters %+v)", b.ID, err, b.Counts)
		}
		if b, err = r.api.get(ctx, b.ID); err != nil {
			return nil, err
		}
	}
	res := &UrgentResult{Broadcast: b, BigDone: bigDone, Elapsed: time.Since(created)}
	if b.CompletedAt != nil {
		res.Elapsed = b.CompletedAt.Sub(b.CreatedAt)
	}
	fmt.Fprintf(r.o.Out, "urgent notice %s completed in %s\n", b.ID, res.Elapsed.Round(10*time.Millisecond))
	return res, nil
}

// urgentAudience picks n deliverable members spread over the last 30% of
// users: the ones an all-users broadcast reaches last, so the notice has to
// overtake it to be quick.
func urgentAudience(users []teamsim.User, n int) []teamsim.User {
	var pool []teamsim.User
	for _, u := range users[len(users)*7/10:] {
		if deliverable(u) {
			pool = append(pool, u)
		}
	}
	if n >= len(pool) {
		return pool
	}
	out := make([]teamsim.User, 0, n)
	for i := range n {
		out = append(out, pool[i*len(pool)/n])
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
