package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// sample is one broadcast's counters at a moment.
type sample struct {
	at         time.Time
	done       int64 // recipients in a final state
	sent       int64
	installing int64
	expanding  bool
}

func sampleOf(b *broadcast.Broadcast, at time.Time) sample {
	c := b.Counts
	return sample{at: at, done: c.Done(), sent: c.Sent, installing: c.Installing, expanding: b.Status == broadcast.StatusExpanding}
}

// steadyRate is the rate of done between 10% and 90% of total.
func steadyRate(samples []sample, total int64) float64 {
	return rateBetween(samples, total/10, total*9/10, func(s sample) int64 { return s.done })
}

// rateBetween is the rate at which value went from lo to hi: between the
// first samples at which it had reached each.
func rateBetween(samples []sample, lo, hi int64, value func(sample) int64) float64 {
	var from, to *sample
	for i := range samples {
		s := &samples[i]
		if from == nil && value(*s) >= lo {
			from = s
		}
		if to == nil && value(*s) >= hi {
			to = s
		}
	}
	if from == nil || to == nil || !to.at.After(from.at) {
		return 0
	}
	return float64(value(*to)-value(*from)) / to.at.Sub(from.at).Seconds()
}

// installsDone is how long after start the last recipient left installing:
// the first sample, once the expansion was over, with none installing.
func installsDone(samples []sample, start time.Time) time.Duration {
	for _, s := range samples {
		if !s.expanding && s.installing == 0 {
			return s.at.Sub(start)
		}
	}
	return 0
}

// watched is what watch saw of some broadcasts: each one's final state
// and samples, and the samples of their sum.
type watched struct {
	broadcasts []*broadcast.Broadcast
	samples    [][]sample
	sum        []sample
}

// watch shows the progress of the broadcasts ids (their sum) until every
// one has completed.
func (o *Options) watch(ctx context.Context, api *client, ids []string, procs *processes) (*watched, error) {
	var bar *progressbar.ProgressBar
	if o.Progress {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(o.Out), progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Out) }))
	}
	lastLine := time.Now()
	bs := make([]*broadcast.Broadcast, len(ids))
	samples := make([][]sample, len(ids))
	var sums []sample
	for {
		for i, id := range ids {
			if bs[i] != nil && bs[i].Status == broadcast.StatusCompleted {
				continue
			}
			b, err := api.get(ctx, id)
			if err != nil {
				return nil, err
			}
			bs[i] = b
			samples[i] = append(samples[i], sampleOf(b, time.Now()))
		}
		sum := total(bs)
		sums = append(sums, sampleOf(sum, time.Now()))
		c := sum.Counts
		if bar != nil {
			if bar.GetMax64() != c.Total && c.Total > 0 {
				bar.ChangeMax64(c.Total)
			}
			_ = bar.Set64(c.Done())
			bar.Describe(fmt.Sprintf("sent %d  blocked %d  failed %d  installing %d  queued %d", c.Sent, c.Blocked, c.Failed, c.Installing, c.Pending+c.Sending))
		} else if time.Since(lastLine) > 3*time.Second || sum.Status == broadcast.StatusCompleted {
			fmt.Fprintf(o.Out, "%-9s recipients %d: sent %d, blocked %d, failed %d, installing %d, queued %d\n",
				sum.Status, c.Total, c.Sent, c.Blocked, c.Failed, c.Installing, c.Pending+c.Sending)
			lastLine = time.Now()
		}
		if sum.Status == broadcast.StatusCompleted {
			if bar != nil {
				_ = bar.Finish()
			}
			return &watched{broadcasts: bs, samples: samples, sum: sums}, nil
		}
		if err := procs.exited(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("broadcast %s did not complete: %w (counters %+v)", sum.ID, ctx.Err(), c)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// total is one broadcast, or the sum of several: counters added up, the
// least advanced status, and the ids joined.
func total(bs []*broadcast.Broadcast) *broadcast.Broadcast {
	if len(bs) == 1 {
		return bs[0]
	}
	sum := &broadcast.Broadcast{ID: fmt.Sprintf("%d broadcasts", len(bs)), Status: broadcast.StatusCompleted}
	for _, b := range bs {
		c := &sum.Counts
		c.Total += b.Counts.Total
		c.Pending += b.Counts.Pending
		c.Installing += b.Counts.Installing
		c.Sending += b.Counts.Sending
		c.Sent += b.Counts.Sent
		c.Blocked += b.Counts.Blocked
		c.Failed += b.Counts.Failed
		switch {
		case b.Status == broadcast.StatusExpanding:
			sum.Status = broadcast.StatusExpanding
		case b.Status != broadcast.StatusCompleted && sum.Status == broadcast.StatusCompleted:
			sum.Status = b.Status
		}
	}
	return sum
}
