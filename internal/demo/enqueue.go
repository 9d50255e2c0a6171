package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// enqueue creates one all-users broadcast per tenant with only the
// dispatcher running, and waits until each has left expanding: its whole
// audience is recorded and its jobs are in the stream, where they stay.
func (r *run) enqueue(ctx context.Context) (*Result, error) {
	cpuBefore, err := childrenCPU()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	bs := make([]*broadcast.Broadcast, len(r.tenants))
	for i, t := range r.tenants {
		if bs[i], err = r.create(ctx, t, announcement("New travel policy from 1 December"), nil, ""); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.o.Out, "broadcast %s accepted: enqueueing all users\n", bs[i].ID)
	}
	lastLine := time.Now()
	for i := 0; i < len(bs); {
		b, err := r.api.get(ctx, bs[i].ID)
		if err != nil {
			return nil, err
		}
		bs[i] = b
		if b.Status != broadcast.StatusExpanding {
			i++
			continue
		}
		if time.Since(lastLine) > 3*time.Second {
			fmt.Fprintf(r.o.Out, "expanding: %d recipients enqueued\n", b.Counts.Total)
			lastLine = time.Now()
		}
		if err := r.procs.exited(); err != nil {
			return nil, err
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, fmt.Errorf("broadcast %s still expanding: %w (counters %+v)", b.ID, err, b.Counts)
		}
	}
	elapsed := time.Since(start)
	cpuAfter, err := childrenCPU()
	if err != nil {
		return nil, err
	}
	rss, err := peakRSS(r.procs.pid("dispatcher"))
	if err != nil {
		return nil, fmt.Errorf("dispatcher peak RSS: %w", err)
	}
	sum := total(bs)
	res := &Result{Broadcast: sum, Ledger: r.sim.Ledger(), Elapsed: elapsed, Tenant: r.tenants[0], Broadcasts: 1,
		CPU: cpuSpent(cpuBefore, cpuAfter, r.cpuNames()), EnqueueOnly: true, DispatcherPeakRSS: rss}
	fmt.Fprintf(r.o.Out, "%s: %d recipients enqueued in %s; the dispatcher's peak RSS %.0f MB\n",
		sum.Status, sum.Counts.Total, elapsed.Round(100*time.Millisecond), float64(rss)/(1<<20))
	for i, t := range r.tenants {
		res.Tenants = append(res.Tenants, TenantResult{Tenant: t, Broadcast: bs[i]})
		e := expect(r.sim.Users(t))
		res.Expected.Members += e.Members
		res.Expected.Deliverable += e.Deliverable
		res.Expected.Blocked += e.Blocked
	}
	c := sum.Counts
	if c.Total != int64(res.Expected.Members) {
		res.Problems = append(res.Problems, fmt.Sprintf("recipients: %d, expected %d", c.Total, res.Expected.Members))
	}
	if c.Pending+c.Installing != c.Total {
		res.Problems = append(res.Problems, fmt.Sprintf("with no installer or sender running, %d of %d recipients are not waiting (%+v)", c.Total-c.Pending-c.Installing, c.Total, c))
	}
	return res, nil
}
