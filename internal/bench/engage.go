package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// The engagement scenarios' figures: E1, the bot endpoint under load;
// E2, what users' engagement adds to B2's CPU per 1,000 messages.

func writeEndpoint(out io.Writer, r run) {
	l := r.res.Endpoint
	fmt.Fprintf(out, "\n### %s: the bot endpoint under engagement\n\n", r.sc.ID)
	if l == nil {
		fmt.Fprintln(out, "No load ran.")
		return
	}
	fmt.Fprintf(out, "After a broadcast to %d users, the simulator posted the dispatcher's bot endpoint %d engagement activities/s for %s, each signed as Teams signs them and about a message the user got: "+
		"half read receipts, a quarter reactions, 15%% acknowledges (adaptiveCard/action invokes, their answers checked) and 10%% replies. "+
		"Open loop: each latency runs from when the activity was due to the end of the answer, so a slow answer does not hold back the next.\n\n",
		r.res.Broadcast.Counts.Total, l.Rate, l.Duration.Round(100*time.Millisecond))
	fmt.Fprintln(out, "| posted | achieved rate | p50 | p99 | max | answers | invokes |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	fmt.Fprintf(out, "| %d | %.0f/s | %s | **%s** | %s | %v | %v |\n", l.Posted, float64(l.Posted)/l.Duration.Seconds(),
		l.P50.Round(100*time.Microsecond), l.P99.Round(100*time.Microsecond), l.Max.Round(100*time.Microsecond), l.Statuses, l.Invokes)
	fmt.Fprintln(out, "\nCPU during the load (the bot endpoint is the dispatcher's; the simulator, which signs and posts, runs in the bench process):")
	fmt.Fprintln(out, "\n| process | CPU | CPU-ms per 1,000 activities |")
	fmt.Fprintln(out, "|---|---|---|")
	for _, p := range l.CPU {
		fmt.Fprintf(out, "| %s | %.1f s | %.0f |\n", p.Name, p.CPU.Seconds(), 1000*perThousand(p.CPU, int64(l.Posted)))
	}
}

// rawPipeline is B2's run, when this report has it.
func rawPipeline(runs []run) *demo.Result {
	for _, r := range runs {
		if r.sc.ID == "B2" {
			return r.res
		}
	}
	return nil
}

func writeEngagementCost(out io.Writer, r run, b2 *demo.Result) {
	res := r.res
	e := engagedSince(res.Ledger.Engagement, res.LedgerBefore.Engagement)
	fmt.Fprintf(out, "\n%s's users, after the measured broadcast: %d messages read (%d read receipts posted), %d acknowledges (%d valid, %d invalid, %d late), %d reactions, %d replies; "+
		"the figures above run until the last of them was posted.\n", r.sc.ID, e.Reads, e.Receipts, e.Invokes, e.InvokesValid, e.InvokesInvalid, e.InvokesLate, e.Reactions, e.Replies)
	if b2 == nil {
		fmt.Fprintln(out, "\nB2 did not run in this report: run both (`-run 'B2|E2'`) to compare.")
		return
	}
	with, without := services(res), services(b2)
	fmt.Fprintf(out, "\nThe services (dispatcher, installer, sender) per 1,000 messages: **%.3f CPU-s** with engagement, %.3f without (B2): **%+.3f CPU-s** (%+.0f%%).\n",
		perThousand(with, res.Broadcast.Counts.Sent), perThousand(without, b2.Broadcast.Counts.Sent),
		perThousand(with, res.Broadcast.Counts.Sent)-perThousand(without, b2.Broadcast.Counts.Sent),
		100*(perThousand(with, res.Broadcast.Counts.Sent)/max(perThousand(without, b2.Broadcast.Counts.Sent), 1e-9)-1))
}

// services is the CPU of the services of a run.
func services(r *demo.Result) time.Duration {
	var d time.Duration
	for _, p := range r.CPU {
		if isService(p.Name) {
			d += p.CPU
		}
	}
	return d
}

// engagedSince is what the users did since before.
func engagedSince(now, before teamsim.EngagementLedger) teamsim.EngagementLedger {
	return teamsim.EngagementLedger{Reads: now.Reads - before.Reads, Receipts: now.Receipts - before.Receipts,
		Reactions: now.Reactions - before.Reactions, Replies: now.Replies - before.Replies, Invokes: now.Invokes - before.Invokes,
		InvokesValid: now.InvokesValid - before.InvokesValid, InvokesInvalid: now.InvokesInvalid - before.InvokesInvalid,
		InvokesLate: now.InvokesLate - before.InvokesLate}
}
