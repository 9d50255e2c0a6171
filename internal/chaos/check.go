package chaos

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/demo"
)

// maxListed bounds the users a problem lists by name.
const maxListed = 10

// check compares the broadcast, recipient by recipient, with the
// simulator's population and ledger, and fills res.
func (r *runner) check(ctx context.Context, res *Result) error {
	var b *broadcast.Broadcast
	var recs []broadcast.Recipient
	var err error
	for try := 0; ; try++ { // the API may still be coming back
		if b, err = r.env.Get(ctx, r.id); err == nil {
			if recs, err = r.env.Recipients(ctx, r.id); err == nil {
				break
			}
		}
		if try == 20 {
			return fmt.Errorf("read the broadcast for the check: %w", err)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	sim, tenant := r.env.Sim(), r.env.Tenants()[0]
	led, tally := sim.Ledger(), r.env.Tally()
	exp := demo.Expect(sim.Users(tenant))
	c := b.Counts
	pd := c.PossibleDuplicates

	var p []string
	problem := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	expectEq := func(what string, got, want int64) {
		if got != want {
			problem("%s: %d, expected %d", what, got, want)
		}
	}
	res.Recipients, res.Members, res.PossibleDuplicates = c.Total, exp.Members, pd
	res.Duplicates, res.Unanswered, res.DeliveredWithError = led.Duplicates, led.UnansweredDeliveries, led.DeliveredWithError
	res.Throttled, res.Violations = led.Throttled, led.RetryAfterViolations

	// Every recipient final, and the counters what the records say.
	byUser := make(map[string]broadcast.Recipient, len(recs))
	states := make(map[broadcast.State]int64)
	var notFinal, otherFailures []string
	for _, rec := range recs {
		byUser[rec.UserID] = rec
		states[rec.State]++
		switch {
		case !rec.State.Final():
			res.Lost++
			notFinal = append(notFinal, fmt.Sprintf("%s %s (attempts %d, last error %q)", rec.UserID, rec.State, rec.Attempts, rec.LastError))
		case rec.State == broadcast.StateFailed && rec.Reason == broadcast.ReasonRetriesExhausted:
			res.RetriesExhausted++
			if len(sim.UserDeliveries(tenant, rec.UserID)) > 0 {
				res.FailedButDelivered++
			}
		case rec.State == broadcast.StateFailed:
			otherFailures = append(otherFailures, fmt.Sprintf("%s failed/%s (%s)", rec.UserID, rec.Reason, rec.LastError))
		}
	}
	if b.Status != broadcast.StatusCompleted {
		problem("broadcast %s is %s, not completed", b.ID, b.Status)
	}
	listed(&p, "recipients not in a final state", notFinal)
	listed(&p, "recipients failed for a reason the faults do not explain", otherFailures)
	if res.RetriesExhausted > 0 && !r.s.failuresExplained {
		problem("%d recipients failed/retries_exhausted though no fault of this scenario exhausts retries", res.RetriesExhausted)
	}
	expectEq("recipients listed", int64(len(recs)), c.Total)
	expectEq("recipients (total)", c.Total, int64(exp.Members))
	for _, s := range broadcast.States {
		expectEq("counter "+string(s)+" against the records", c.Of(s), states[s])
	}

	// The ledger, user by user.
	var missing []string
	for _, k := range tally.Missing {
		rec, ok := byUser[k.User]
		switch {
		case !ok:
			missing = append(missing, k.User+" (no recipient record)")
		case rec.State == broadcast.StateFailed && rec.Reason == broadcast.ReasonRetriesExhausted && r.s.failuresExplained:
			// Explained by the storm's faults; counted above.
		case rec.State.Final():
			missing = append(missing, fmt.Sprintf("%s (recorded %s/%s, never delivered)", k.User, rec.State, rec.Reason))
			res.Lost++
		default:
			missing = append(missing, fmt.Sprintf("%s (%s)", k.User, rec.State)) // counted as not final
		}
	}
	listed(&p, "deliverable users not delivered", missing)
	var unowed []string
	for _, k := range tally.Unowed {
		unowed = append(unowed, k.User)
	}
	listed(&p, "guests, blocked or disabled users who got the message", unowed)
	expectEq("blocked", c.Blocked, int64(exp.Blocked))
	expectEq("sent (+ failed after a timed-out delivery) against the users delivered", c.Sent+int64(res.FailedButDelivered), led.DeliveredUsers)
	expectEq("duplicates in the ledger against the per-user tally", led.Duplicates, tally.Extra)
	expectEq("Retry-After violations", led.RetryAfterViolations, 0)

	// Duplicates: only a sender's death between Teams' 201 and the record
	// (at most SEND_CONCURRENCY per killed sender), and, where the
	// simulator answers after the senders' timeout or answers 502/504 for
	// a message it delivered, a retry of a send Teams had taken (the
	// ledger counts those as Unanswered and DeliveredWithError). The
	// senders report all as possible duplicates: a takeover of a claim
	// whose lease ran out, and a send retried after no answer or a 502/504.
	// A stall longer than a claim's lease (Redis frozen) lets a redelivered
	// job take over the claim of a send already made: bounded by the
	// reported possible duplicates only.
	var unseen int64
	if r.s.timeouts {
		unseen = res.Unanswered
	}
	unseen += res.DeliveredWithError
	if bound := int64(res.SenderKills()*SendConcurrency) + unseen; res.Duplicates > bound && !r.s.stall {
		problem("duplicates %d > sender kills %d x SEND_CONCURRENCY %d + 201s answered after the timeout or with a 502/504 %d",
			res.Duplicates, res.SenderKills(), SendConcurrency, unseen)
	}
	if res.Duplicates > pd {
		problem("duplicates %d > reported possible duplicates %d", res.Duplicates, pd)
	}
	res.Problems = append(res.Problems, p...)
	return nil
}

func listed(p *[]string, what string, items []string) {
	if len(items) == 0 {
		return
	}
	shown := items
	if len(shown) > maxListed {
		shown = shown[:maxListed]
	}
	more := ""
	if len(items) > len(shown) {
		more = ", …"
	}
	*p = append(*p, fmt.Sprintf("%d %s: %s%s", len(items), what, strings.Join(shown, "; "), more))
}

// Print writes a table of results, then each run's problems.
func Print(w io.Writer, results []*Result) {
	fmt.Fprintln(w, Markdown(results))
	for _, r := range results {
		if len(r.Problems) == 0 {
			fmt.Fprintf(w, "%s: OK (seed %d, logs in %s)\n", r.Scenario, r.Seed, r.WorkDir)
			continue
		}
		fmt.Fprintf(w, "%s: %d PROBLEMS (seed %d, logs in %s):\n", r.Scenario, len(r.Problems), r.Seed, r.WorkDir)
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  - "+p)
		}
	}
}

// Markdown is the results as a Markdown table.
func Markdown(results []*Result) string {
	var sb strings.Builder
	sb.WriteString("| scenario | recipients | kills (dispatcher/installer/sender) | NATS or Redis restarts or stalls | 429 bursts | lost | duplicates | possible duplicates reported | 201s the sender never read (timeout or kill) | retries exhausted (of them delivered) | 429s | Retry-After violations | duration | result |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		result := "OK"
		if len(r.Problems) > 0 {
			result = fmt.Sprintf("%d problems", len(r.Problems))
		}
		fmt.Fprintf(&sb, "| %s | %d | %d (%d/%d/%d) | %d | %d | %d | %d | %d | %d | %d (%d) | %d | %d | %s | %s |\n",
			r.Scenario, r.Recipients, r.TotalKills(), r.Kills["dispatcher"], r.Kills["installer"], r.Kills["sender"],
			r.Restarts, r.Bursts, r.Lost, r.Duplicates, r.PossibleDuplicates, r.Unanswered, r.RetriesExhausted, r.FailedButDelivered,
			r.Throttled, r.Violations, r.Elapsed.Round(time.Second), result)
	}
	return sb.String()
}
