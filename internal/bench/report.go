package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// run is a scenario and what it measured.
type run struct {
	sc     Scenario
	res    *demo.Result
	host   hostLoad // the whole machine during the run
	hostOK bool
}

func writeReport(out io.Writer, runs []run) {
	host, _ := os.Hostname()
	fmt.Fprintf(out, "# Benchmarks\n\nWritten by `make bench` (`bin/bench`) on %s: %s, %d CPUs, %s, %s.\n"+
		"Each run starts the real binaries as processes, NATS JetStream (the embedded server, file storage, in a process of its own: `bin/natsd`), a redis-server and the simulator on this machine.\n"+
		"Runs marked *warm* first send a broadcast that installs the app and fills the conversation cache, then measure a second broadcast to the same users.\n"+
		"Steady rate is the delivery rate between 10%% and 90%% of the measured broadcast; 429s and violations are the simulator's ledger over the whole run (warm-up included); the steady-state goal counts the measured broadcast's 429s.\n"+
		"Every run but B2 is at Teams' latency (the simulator's realistic profile), with the services configured at the simulator's limits (`TENANT_RPS` = the limit, the default).\n"+
		"The host column is the whole machine during the run (from /proc/stat and /proc/pressure/cpu): the share of all CPUs' time spent running anything, and the share of the time some runnable task waited for a CPU. The services, Redis, NATS and the simulator share these CPUs: a starved host delays requests past their slots.\n"+
		"`bin/bench -run B4` reruns one scenario (a regular expression over F1, F2, B1…B6, C1, E1, E2 and demo) and prints its report.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version())
	fmt.Fprintln(out, "| scenario | recipients | limit (req/s) | senders | elapsed | steady rate | of the limit | 429s / requests | violations | duplicates | host | goal | met |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		fmt.Fprintln(out, row(r, verdict(r, runs)))
	}
	fmt.Fprintln(out, "\n## Further figures (generated)")
	for _, r := range runs {
		switch o := r.sc.Options; {
		case r.sc.ID == "F1" || r.sc.ID == "F2":
			writeFirst(out, r)
		case o.KillAt > 0:
			writeCrash(out, r, crashBaseline(runs))
		case o.EndpointLoad.Rate > 0:
			writeEndpoint(out, r)
		case o.Engagement.Read > 0:
			writeCPU(out, r)
			writeEngagementCost(out, r, rawPipeline(runs))
		case o.Profile > 0:
			writeCPU(out, r)
		case o.EnqueueOnly:
			writeExpansion(out, r)
		case o.Tenants > 1:
			writeTenants(out, r)
		case o.Urgent > 0:
			writeUrgent(out, r)
		case o.Warm && o.NotInstalled > 0:
			writeGoodput(out, r, baseline(runs))
		}
	}
}

// verdict is the met column: the judged figure and yes or no; empty when
// the scenario has no judge.
func verdict(r run, runs []run) string {
	judge := r.sc.Judge
	if r.sc.Options.KillAt > 0 {
		judge = crashJudge(crashBaseline(runs))
	}
	if judge == nil {
		return ""
	}
	figure, ok := judge(r.sc, r.res)
	if ok {
		return "yes: " + figure
	}
	return "**no**: " + figure
}

func row(rn run, met string) string {
	sc, r := rn.sc, rn.res
	host := "–"
	if rn.hostOK {
		host = rn.host.String()
	}
	l := r.Ledger
	requests := requests(r.Ledger)
	o := sc.Options
	limit, rate, share := "none", fmt.Sprintf("%.0f/s", r.SteadyRate), "–"
	switch {
	case o.EnqueueOnly:
		rate = "–"
	case o.Unlimited:
	case len(r.Tenants) > 1:
		limit = fmt.Sprintf("%d × %d tenants", o.RPS, len(r.Tenants))
		shares := tenantShares(r, o.RPS)
		share = fmt.Sprintf("min %.1f%%, median %.1f%%, max %.1f%%", shares[0], median(shares), shares[len(shares)-1])
	default:
		limit = fmt.Sprint(o.RPS)
		share = fmt.Sprintf("%.1f%%", 100*r.SteadyRate/float64(o.RPS))
	}
	name := sc.Name
	if o.Warm {
		name += " (warm)"
	}
	if o.EnqueueOnly {
		name += ": elapsed is create until enqueued"
	}
	status := ""
	if len(r.Problems) > 0 {
		status = " **MISMATCH: " + strings.Join(r.Problems, "; ") + "**"
	}
	senders := r.Senders
	if o.EnqueueOnly {
		senders = 0
	}
	return fmt.Sprintf("| %s%s | %d | %s | %d | %s | %s | %s | %d / %d (%.2f%%) | %d | %d | %s | %s | %s |",
		name, status, r.Broadcast.Counts.Total, limit, senders, r.Elapsed.Round(100*time.Millisecond), rate, share,
		l.Throttled, requests, 100*float64(l.Throttled)/float64(max(requests, 1)), l.RetryAfterViolations, l.Duplicates, host, sc.Goal, met)
}

// tenantShares is each tenant's steady rate as a percentage of its limit, sorted.
func tenantShares(r *demo.Result, limit int) []float64 {
	out := make([]float64, len(r.Tenants))
	for i, t := range r.Tenants {
		out[i] = 100 * t.SteadyRate / float64(limit)
	}
	slices.Sort(out)
	return out
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// writeCPU writes the CPU time per 1,000 messages of each process over the
// measured broadcast, and the top of the sender's profile.
func writeCPU(out io.Writer, r run) {
	sent := r.res.Broadcast.Counts.Sent
	fmt.Fprintf(out, "\n### %s: CPU per 1,000 messages\n\n", r.sc.ID)
	var harness time.Duration
	for _, p := range r.res.CPU {
		if p.Harness {
			harness += p.CPU
		}
	}
	// NATS in its own process: the bench process is only the simulator's.
	natsApart := slices.ContainsFunc(r.res.CPU, func(p demo.ProcessCPU) bool { return strings.HasPrefix(p.Name, "nats-server") })
	where := "The services and redis-server are child processes; NATS JetStream and the simulator run inside the bench process, which also polls the API."
	if natsApart {
		where = "The services, redis-server and NATS JetStream (`bin/natsd`) are child processes; the simulator, which is not part of the product, runs inside the bench process, which also polls the API."
	}
	fmt.Fprintf(out, "CPU time (user + system, from /proc/<pid>/stat) of every process of the run over the measured broadcast of %d messages, from its create until it completed (%s). %s\n\n",
		sent, r.res.Elapsed.Round(100*time.Millisecond), where)
	fmt.Fprintln(out, "| process | CPU | CPU-s per 1,000 messages |")
	fmt.Fprintln(out, "|---|---|---|")
	var all time.Duration
	for _, p := range r.res.CPU {
		fmt.Fprintf(out, "| %s | %.1f s | %.3f |\n", p.Name, p.CPU.Seconds(), perThousand(p.CPU, sent))
		all += p.CPU
	}
	svc := services(r.res)
	fmt.Fprintf(out, "| **the services** (dispatcher, installer, sender) | %.1f s | **%.3f** |\n", svc.Seconds(), perThousand(svc, sent))
	if natsApart {
		product := all - harness
		fmt.Fprintf(out, "| **the product and its infrastructure** (the services, redis-server, NATS) | %.1f s | **%.3f** |\n", product.Seconds(), perThousand(product, sent))
	}
	fmt.Fprintf(out, "| **all** | %.1f s | **%.3f** |\n", all.Seconds(), perThousand(all, sent))
	if r.res.ProfileTop == "" {
		return
	}
	fmt.Fprintf(out, "\nThe sender's CPU profile over the first %s of the measured broadcast (`sender.cpu.pprof` in the run's work directory), `go tool pprof -top`:\n\n```\n%s\n```\n",
		r.sc.Options.Profile, r.res.ProfileTop)
}

func isService(name string) bool {
	for _, s := range []string{"dispatcher", "installer", "sender"} {
		if name == s || strings.HasPrefix(name, s+"-") {
			return true
		}
	}
	return false
}

func perThousand(d time.Duration, messages int64) float64 {
	return 1000 * d.Seconds() / float64(max(messages, 1))
}

func writeExpansion(out io.Writer, r run) {
	res := r.res
	n := res.Broadcast.Counts.Total
	fmt.Fprintf(out, "\n### %s: expansion\n\n", r.sc.ID)
	fmt.Fprintf(out, "An all-users broadcast to %d simulator users with only the dispatcher running: from its create until its status left `expanding` "+
		"(every recipient recorded, every job acknowledged by JetStream): **%s** (%.0f recipients/s; goal <= 30 s for 1,000,000). "+
		"The dispatcher's peak RSS (VmHWM): **%.0f MB** (goal <= 150 MB).\n",
		n, res.Elapsed.Round(100*time.Millisecond), float64(n)/res.Elapsed.Seconds(), float64(res.DispatcherPeakRSS)/(1<<20))
}

func writeTenants(out io.Writer, r run) {
	o := r.sc.Options
	fmt.Fprintf(out, "\n### %s: each tenant's steady rate\n\n", r.sc.ID)
	fmt.Fprintf(out, "%d tenants, each limited to %d requests/s by the simulator (services pace at %.0f%%), one all-users broadcast each, all created at once; the same services serve them all.\n\n",
		len(r.res.Tenants), o.RPS, 100*o.Pace)
	fmt.Fprintln(out, "| tenant | recipients | steady rate | of its limit |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for i, t := range r.res.Tenants {
		fmt.Fprintf(out, "| %d | %d | %.1f/s | %.1f%% |\n", i+1, t.Broadcast.Counts.Total, t.SteadyRate, 100*t.SteadyRate/float64(o.RPS))
	}
}

func writeUrgent(out io.Writer, r run) {
	fmt.Fprintf(out, "\n### %s: an urgent notice during a big broadcast\n\n", r.sc.ID)
	u := r.res.Urgent
	if u == nil {
		fmt.Fprintln(out, "No urgent notice was sent.")
		return
	}
	fmt.Fprintf(out, "An urgent notice (`\"priority\":\"urgent\"`) to %d users of the same tenant, among the last 30%% of the big broadcast's recipients, "+
		"created when %d of its %d recipients were done: it completed **%s** after its create (the dispatcher's `createdAt` to `completedAt`; goal <= 5 s). "+
		"The big broadcast's steady rate: %.0f/s.\n",
		u.Broadcast.Counts.Total, u.BigDone, r.res.Broadcast.Counts.Total, u.Elapsed.Round(10*time.Millisecond), r.res.SteadyRate)
}

// baseline is B1's one-sender run, when this report has it.
func baseline(runs []run) *demo.Result {
	for _, r := range runs {
		o := r.sc.Options
		if r.sc.ID == "B1" && o.Senders == 1 && o.RPS == 500 {
			return r.res
		}
	}
	return nil
}

func writeGoodput(out io.Writer, r run, b1 *demo.Result) {
	res := r.res
	fmt.Fprintf(out, "\n### %s: goodput while installs proceed\n\n", r.sc.ID)
	fmt.Fprintf(out, "*Goodput* is the rate of `sent` (the broadcast's counter: deliveries the Connector accepted) between the moments it reaches 10%% and 90%% of the recipients whose conversation was known when the broadcast was created "+
		"(%d of %d here: the warm-up reached those who have the app). Every delivery in that window counts, also to users whose install finished meanwhile. "+
		"For B1 every conversation is known, so its goodput is its steady rate of `sent`.\n\n", res.Known, res.Broadcast.Counts.Total)
	fmt.Fprintf(out, "- goodput: **%.0f/s**", res.KnownRate)
	if b1 != nil && b1.KnownRate > 0 {
		fmt.Fprintf(out, ", B1's (1 sender, this run): %.0f/s: **%.1f%%** of it (goal >= 97%%)\n", b1.KnownRate, 100*res.KnownRate/b1.KnownRate)
	} else {
		fmt.Fprintf(out, " (B1 not run in this report): %.1f%% of the limit\n", 100*res.KnownRate/float64(r.sc.Options.RPS))
	}
	fmt.Fprintf(out, "- installs: %d apps installed (201s), Graph limited to %d/s; no recipient was installing any more %s after the create; the broadcast completed after %s\n",
		res.Ledger.Installs, r.sc.Options.GraphRPS, res.InstallsDone.Round(100*time.Millisecond), res.Elapsed.Round(100*time.Millisecond))
}

// writeFirst writes how a first broadcast found its conversations.
func writeFirst(out io.Writer, r run) {
	res, o := r.res, r.sc.Options
	l := res.Ledger
	creates := l.Requests[teamsim.KindConnectorCreate]
	chats := l.Requests[teamsim.KindGraphChat]
	secs := max(res.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(out, "\n### %s: a first broadcast\n\n", r.sc.ID)
	fmt.Fprintf(out, "%d recipients who all have the app and no cached conversation, Connector limited to %d/s and Graph's installedApps to %d/s by the simulator, the services configured at those limits. "+
		"From the create to the completion: **%s, %.1f messages/s** (steady %.1f/s). Conversations: %d Connector creates and %d Graph chat lookups "+
		"(%d installedApps GETs in all); the Connector carried %.1f requests/s (sends and creates), Graph %.1f GETs/s.\n",
		res.Broadcast.Counts.Total, o.RPS, o.GraphRPS, res.Elapsed.Round(100*time.Millisecond), overall(res), res.SteadyRate,
		creates, chats, l.Requests[teamsim.KindGraphInstalledGet]+chats,
		float64(l.Deliveries+creates)/secs, float64(l.Requests[teamsim.KindGraphInstalledGet]+chats)/secs)
}

// crashBaseline is C1's run without a kill, when this report has it.
func crashBaseline(runs []run) *demo.Result {
	for _, r := range runs {
		if r.sc.ID == "C1" && r.sc.Options.KillAt == 0 {
			return r.res
		}
	}
	return nil
}

func crashJudge(base *demo.Result) func(Scenario, *demo.Result) (string, bool) {
	return func(_ Scenario, r *demo.Result) (string, bool) {
		if base == nil {
			return "no baseline in this report", false
		}
		added := r.Elapsed - base.Elapsed
		return fmt.Sprintf("%+.1f s", added.Seconds()), added <= 5*time.Second
	}
}

func writeCrash(out io.Writer, r run, base *demo.Result) {
	res := r.res
	fmt.Fprintf(out, "\n### %s: a sender killed mid-broadcast\n\n", r.sc.ID)
	if res.Killed == nil {
		fmt.Fprintln(out, "No sender was killed.")
		return
	}
	fmt.Fprintf(out, "Two senders share the tenant's budget; the first is killed with SIGKILL when %d of %d recipients are done (%s after the create) and stays dead: "+
		"the jobs in its hands come back to the other once their AckWait passes without a heartbeat. The broadcast completed after %s",
		res.Killed.Done, res.Broadcast.Counts.Total, res.Killed.At.Round(100*time.Millisecond), res.Elapsed.Round(100*time.Millisecond))
	if base != nil {
		fmt.Fprintf(out, ", the same run without the kill after %s: the crash cost **%+.1f s** (goal <= 5 s)", base.Elapsed.Round(100*time.Millisecond), (res.Elapsed - base.Elapsed).Seconds())
	}
	fmt.Fprintf(out, ". Possible duplicates reported: %d; duplicates in the ledger: %d.\n", res.Broadcast.Counts.PossibleDuplicates, res.Ledger.Duplicates)
}
