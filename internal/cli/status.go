package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// watchFlags follow a broadcast until it ends.
type watchFlags struct {
	watch         bool
	interval      time.Duration
	allowFailures bool
}

func (w *watchFlags) add(fs *pflag.FlagSet, withWatch bool) {
	if withWatch {
		fs.BoolVar(&w.watch, "watch", false, "follow the broadcast until it ends (as 'bcast status --watch')")
	}
	fs.DurationVar(&w.interval, "interval", time.Second, "with --watch: how often to ask for the counts")
	fs.BoolVar(&w.allowFailures, "allow-failures", false, "with --watch: exit 0 even if recipients failed")
}

// maxWatchErrors is how many polls in a row may fail (the dispatcher
// restarting, a 503) before a watch gives up.
const maxWatchErrors = 5

func (a *app) statusCmd() *cobra.Command {
	var w watchFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a broadcast's status and counts, or follow it with --watch",
		Long: `Show a broadcast: its status and one counter per recipient state. With
--watch, follow it until it is completed, canceled or failed: a progress bar
with the rate and the time left on a terminal, a line per change otherwise (a
log, a pipe). A followed broadcast that ends with failed recipients exits 3
(unless --allow-failures), a canceled one 4, a failed one (its audience could
not be expanded: the error says why) 5.`,
		Example: `  bcast status 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d
  bcast status 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --watch
  bcast status 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --watch --allow-failures --interval 5s | tee progress.log`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if w.watch {
				return a.watch(cmd.Context(), args[0], &w)
			}
			b, err := a.client.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			}
			a.describe(b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&w.watch, "watch", false, "follow the broadcast until it ends")
	w.add(cmd.Flags(), false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the broadcast as the API gives it")
	return cmd
}

// describe prints a broadcast for a person.
func (a *app) describe(b *Broadcast) {
	kind := b.Kind
	if kind == "" {
		kind = "broadcast"
	}
	a.printf("id          %s\n", b.ID)
	a.printf("tenant      %s\n", b.TenantID)
	a.printf("kind        %s\n", kind)
	a.printf("status      %s\n", b.Status)
	a.printf("priority    %s\n", b.Priority)
	a.printf("created     %s\n", b.CreatedAt.Format(time.RFC3339))
	if b.CreatedBy != "" {
		a.printf("created by  %s\n", b.CreatedBy)
	}
	if b.LocalTime != nil {
		a.printf("local time  %s in each recipient's zone (audience grouped by zone at %s)\n", *b.LocalTime, b.SendAt.Format(time.RFC3339))
	} else if b.SendAt != nil {
		a.printf("send at     %s\n", b.SendAt.Format(time.RFC3339))
	}
	for i, z := range b.Zones {
		label := ""
		if i == 0 {
			label = "zones"
		}
		a.printf("%-11s %-32s %s  %6d recipients  %s\n", label, z.Zone, z.StartAt.Format(time.RFC3339), z.Recipients, z.State)
	}
	if b.CompletedAt != nil {
		a.printf("ended       %s\n", b.CompletedAt.Format(time.RFC3339))
	}
	if b.Error != "" {
		a.printf("error       %s\n", b.Error)
	}
	if b.Approval != nil {
		a.printf("approval    %s\n", approvalLine(b.Approval))
	}
	if b.ReminderOf != "" {
		a.printf("reminder of %s\n", b.ReminderOf)
	}
	if b.Reminder != nil {
		a.printf("reminded    %s\n", reminderLine(b.Reminder))
	}
	for i, r := range b.Reminders {
		line := fmt.Sprintf("%s after completion, to %s: %s", r.After, r.To, r.Status)
		if r.Reason != "" {
			line += " (" + r.Reason + ")"
		}
		a.printf("reminder %d  %s %s\n", i, r.ID, line)
	}
	if len(b.RemindedBy) > 0 {
		a.printf("reminders   %s\n", strings.Join(b.RemindedBy, ", "))
	}
	a.printf("recipients  %s\n", countsLine(b))
	if e := b.Engagement; e != nil {
		a.printf("engagement  %s\n", engagementLine(b.Counts.Sent, *e))
	}
	if b.Unresolved != nil && b.Unresolved.Count > 0 {
		a.printf("unresolved  %d UPNs Graph does not know: %s\n", b.Unresolved.Count, strings.Join(b.Unresolved.UPNs, ", "))
	}
	if b.Edit != nil {
		a.printf("edit        %s\n", progressLine(b.Edit))
	}
	if b.Recall != nil {
		a.printf("recall      %s\n", progressLine(b.Recall))
	}
}

func countsLine(b *Broadcast) string {
	c := b.Counts
	s := fmt.Sprintf("%d/%d done: sent %d, blocked %d, failed %d, canceled %d; pending %d, installing %d, sending %d",
		c.Done(), b.Size(), c.Sent, c.Blocked, c.Failed, c.Canceled, c.Pending, c.Installing, c.Sending)
	if c.PossibleDuplicates > 0 {
		s += fmt.Sprintf("; %d possible duplicates", c.PossibleDuplicates)
	}
	if c.Replayed > 0 {
		s += fmt.Sprintf("; %d replayed", c.Replayed)
	}
	return s
}

// engagementLine says how many of the delivered read, acknowledged,
// reacted and replied, and for how many a read is known.
func engagementLine(delivered int64, e Engagement) string {
	return fmt.Sprintf("read %s, acknowledged %s, reacted %d, replied %d (receipts on for %d of %d delivered: unread is unknown for the others)",
		share(e.Read, delivered), share(e.Acknowledged, delivered), e.Reacted, e.Replied, e.ReceiptsOn, delivered)
}

func share(n, of int64) string {
	if of <= 0 {
		return fmt.Sprintf("%d", n)
	}
	return fmt.Sprintf("%d (%.1f%%)", n, 100*float64(n)/float64(of))
}

func progressLine(p *Progress) string {
	s := fmt.Sprintf("%s, %d/%d done, %d failed, %d skipped, %d pending", p.Status, p.Done, p.Total, p.Failed, p.Skipped, p.Pending)
	if p.Round > 0 {
		s = fmt.Sprintf("round %d: %s", p.Round, s)
	}
	return s
}

// rateMeter estimates the delivery rate from the counts over the last
// rateWindow.
type rateMeter struct {
	samples []sample
}

type sample struct {
	at   time.Time
	done int64
}

const rateWindow = 15 * time.Second

func (m *rateMeter) add(at time.Time, done int64) {
	m.samples = append(m.samples, sample{at, done})
	for len(m.samples) > 2 && at.Sub(m.samples[0].at) > rateWindow {
		m.samples = m.samples[1:]
	}
}

// rate is recipients per second (0 until two samples).
func (m *rateMeter) rate() float64 {
	if len(m.samples) < 2 {
		return 0
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	dt := last.at.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(last.done-first.done) / dt
}

func eta(left int64, rate float64) string {
	if left <= 0 {
		return "0s"
	}
	if rate <= 0 {
		return "?"
	}
	return (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second).String()
}

// watch follows a broadcast until it ends, and returns the exit status
// its outcome calls for.
func (a *app) watch(ctx context.Context, id string, w *watchFlags) error {
	if w.interval <= 0 {
		return usageError("--interval: must be positive, got %s", w.interval)
	}
	var bar *progressbar.ProgressBar
	var meter rateMeter
	last := ""
	failures := 0
	for {
		b, err := a.client.Get(ctx, id)
		var apiErr *APIError
		switch {
		case err == nil:
			failures = 0
		case errors.As(err, &apiErr) && apiErr.Status < 500:
			return err // the broadcast does not exist, or the request is wrong: polling will not help
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			failures++
			if failures >= maxWatchErrors {
				return fmt.Errorf("gave up following %s after %d failed requests: %w", id, failures, err)
			}
			fmt.Fprintf(a.errOut, "bcast: %v (retrying)\n", err)
		}
		if b != nil {
			now := time.Now()
			meter.add(now, b.Counts.Done())
			rate := meter.rate()
			left := b.Size() - b.Counts.Done()
			if a.terminal {
				if bar == nil {
					bar = progressbar.NewOptions64(max(b.Size(), 1), progressbar.OptionSetWriter(a.out),
						progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionFullWidth(),
						progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
				}
				if bar.GetMax64() != max(b.Size(), 1) {
					bar.ChangeMax64(max(b.Size(), 1))
				}
				bar.Describe(fmt.Sprintf("%s · sent %d blocked %d failed %d · %.1f/s · ETA %s",
					b.Status, b.Counts.Sent, b.Counts.Blocked, b.Counts.Failed, rate, eta(left, rate)))
				_ = bar.Set64(b.Counts.Done())
			} else {
				line := fmt.Sprintf("%s %s", b.Status, countsLine(b))
				if b.Edit != nil {
					line += "; edit " + progressLine(b.Edit)
				}
				if b.Recall != nil {
					line += "; recall " + progressLine(b.Recall)
				}
				if line != last {
					a.printf("%s %s · %.1f/s · ETA %s\n", now.UTC().Format(time.TimeOnly), line, rate, eta(left, rate))
					last = line
				}
			}
			if b.Ended() && (b.Edit == nil || ended(b.Edit)) && (b.Recall == nil || ended(b.Recall)) {
				if bar != nil {
					_ = bar.Finish()
				}
				return a.outcome(b, w)
			}
		}
		t := time.NewTimer(w.interval + time.Duration(rand.Int64N(int64(w.interval)/10+1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func ended(p *Progress) bool { return p.Status == "completed" || p.Status == "canceled" }

// outcome prints how a followed broadcast ended and turns it into the
// exit status.
func (a *app) outcome(b *Broadcast, w *watchFlags) error {
	a.printf("%s %s: %s\n", b.ID, b.Status, countsLine(b))
	switch {
	case b.Status == broadcast.StatusCanceled:
		return &exitError{code: ExitCanceled, msg: "the broadcast was canceled"}
	case b.Status == broadcast.StatusFailed:
		return &exitError{code: ExitBroadcastFailed, msg: "the broadcast failed: " + b.Error}
	case b.Counts.Failed > 0 && !w.allowFailures:
		return &exitError{code: ExitFailures, msg: fmt.Sprintf("%d recipients failed: 'bcast export %s --state failed' lists them, 'bcast replay %s' retries them",
			b.Counts.Failed, b.ID, b.ID)}
	}
	return nil
}
