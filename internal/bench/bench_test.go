package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	all := Scenarios(true)
	ids := func(scs []Scenario) []string {
		var out []string
		for _, sc := range scs {
			out = append(out, sc.ID)
		}
		return out
	}
	got, err := Select(all, "")
	require.NoError(t, err)
	require.Len(t, got, len(all))
	got, err = Select(all, "B4")
	require.NoError(t, err)
	require.Equal(t, []string{"B4"}, ids(got))
	got, err = Select(all, "B1|B5")
	require.NoError(t, err)
	require.Equal(t, []string{"B1", "B1", "B1", "B1", "B5"}, ids(got))
	_, err = Select(all, "B")
	require.ErrorContains(t, err, "matches no scenario", "an id matches whole, not by prefix")
	_, err = Select(all, "(")
	require.Error(t, err)
}

func TestMedian(t *testing.T) {
	t.Parallel()
	require.Zero(t, median(nil))
	require.Equal(t, 2.0, median([]float64{1, 2, 9}))
	require.Equal(t, 2.5, median([]float64{1, 2, 3, 9}))
}

// The report has a row per run and the further figures of each kind of run.
func TestReport(t *testing.T) {
	t.Parallel()
	counts := func(n int64) broadcast.Counts { return broadcast.Counts{Total: n, Sent: n} }
	bc := func(n int64) *broadcast.Broadcast {
		return &broadcast.Broadcast{ID: "x", Status: broadcast.StatusCompleted, Counts: counts(n)}
	}
	scs := map[string]Scenario{}
	var crash []Scenario
	for _, sc := range Scenarios(false) {
		switch {
		case sc.ID == "C1":
			crash = append(crash, sc)
		case sc.ID == "B1" && (sc.Options.RPS != 500 || sc.Options.Senders != 1):
		case scs[sc.ID].ID == "":
			scs[sc.ID] = sc
		}
	}
	require.Len(t, crash, 2)
	runs := []run{
		{sc: scs["B1"], res: &demo.Result{Broadcast: bc(1000), Elapsed: 2 * time.Second, SteadyRate: 490, KnownRate: 490, Senders: 1},
			host: hostLoad{Busy: 0.71, Stalled: 0.12}, hostOK: true},
		{sc: scs["B2"], res: &demo.Result{Broadcast: bc(2000), Elapsed: time.Second, SteadyRate: 3000, Senders: 1,
			CPU: []demo.ProcessCPU{{Name: "sender", CPU: 2 * time.Second}, {Name: "redis-server", CPU: time.Second},
				{Name: "nats-server (bin/natsd)", CPU: time.Second}, {Name: "this process (the simulator)", CPU: time.Second, Harness: true}},
			ProfileTop: "Duration: 20s\n flat flat% sum% cum cum%"}},
		{sc: scs["B3"], res: &demo.Result{Broadcast: bc(1_000_000), Elapsed: 20 * time.Second, EnqueueOnly: true, DispatcherPeakRSS: 100 << 20}},
		{sc: scs["B4"], res: &demo.Result{Broadcast: bc(200), Elapsed: time.Second, SteadyRate: 100, Senders: 1, Tenants: []demo.TenantResult{
			{Broadcast: bc(100), SteadyRate: 49}, {Broadcast: bc(100), SteadyRate: 45}, {Broadcast: bc(100), SteadyRate: 50}}}},
		{sc: scs["B5"], res: &demo.Result{Broadcast: bc(1000), Elapsed: time.Second, Senders: 1, Urgent: &demo.UrgentResult{Broadcast: bc(20), BigDone: 300, Elapsed: 1500 * time.Millisecond}}},
		{sc: scs["B6"], res: &demo.Result{Broadcast: bc(1000), Elapsed: time.Second, Senders: 1, Known: 700, KnownRate: 480, InstallsDone: 9 * time.Second}},
		{sc: scs["F1"], res: &demo.Result{Broadcast: bc(2000), Elapsed: 62 * time.Second, SteadyRate: 33, Senders: 1}},
		{sc: crash[0], res: &demo.Result{Broadcast: bc(3000), Elapsed: 61 * time.Second, SteadyRate: 49.5, Senders: 2}},
		{sc: crash[1], res: &demo.Result{Broadcast: bc(3000), Elapsed: 64500 * time.Millisecond, SteadyRate: 49.5, Senders: 2,
			Killed: &demo.KillResult{Name: "sender", Done: 2700, At: 55 * time.Second}}},
		{sc: scs["E1"], res: &demo.Result{Broadcast: bc(2000), Elapsed: time.Second, Senders: 1, Endpoint: &demo.EndpointResult{
			Rate: 500, Duration: 30 * time.Second, Posted: 15000, Statuses: map[int]int{200: 15000}, Invokes: map[string]int{"valid": 2250},
			P50: 2 * time.Millisecond, P99: 40 * time.Millisecond, Max: 90 * time.Millisecond,
			CPU: []demo.ProcessCPU{{Name: "dispatcher", CPU: 3 * time.Second}}}}},
		{sc: scs["E2"], res: &demo.Result{Broadcast: bc(2000), Elapsed: time.Second, Senders: 1,
			CPU:          []demo.ProcessCPU{{Name: "sender", CPU: 2 * time.Second}, {Name: "dispatcher", CPU: time.Second}},
			LedgerBefore: teamsim.Ledger{Engagement: teamsim.EngagementLedger{Reads: 1000, Receipts: 900, Invokes: 500, InvokesValid: 500}},
			Ledger:       teamsim.Ledger{Engagement: teamsim.EngagementLedger{Reads: 2600, Receipts: 2340, Invokes: 1300, InvokesValid: 1300}}}},
	}
	var out bytes.Buffer
	writeReport(&out, runs)
	s := out.String()
	for _, want := range []string{
		"| redis-server | 1.0 s | 0.500 |",
		"| **the services** (dispatcher, installer, sender) | 2.0 s | **1.000** |",
		"| **the product and its infrastructure** (the services, redis-server, NATS) | 4.0 s | **2.000** |",
		"| **all** | 5.0 s | **2.500** |",
		"the simulator, which is not part of the product, runs inside the bench process",
		"Duration: 20s",
		"**20s** (50000 recipients/s", "**100 MB**",
		"min 90.0%, median 98.0%, max 100.0%",
		"| 2 | 100 | 45.0/s | 90.0% |",
		"300 of its 1000 recipients were done: it completed **1.5s**",
		"goodput: **480/s**, B1's (1 sender, this run): 490/s: **98.0%**",
		"| 71% busy, 12% starved | >= 97% of the limit",
		"| yes: 98.0%, 0.00% 429s in the measured broadcast, 0 violations |",
		"| **no**: min 90.0% |",
		"**1m2s, 32.3 messages/s**", "| yes: 32.3/s from create to completion |",
		"the crash cost **+3.5 s** (goal <= 5 s)", "| yes: +3.5 s |",
		"| 15000 | 500/s | 2ms | **40ms** | 90ms | map[200:15000] | map[valid:2250] |", "| dispatcher | 3.0 s | 200 |", "| yes: p99 40ms |",
		"1600 messages read (1440 read receipts posted), 800 acknowledges (800 valid",
		"**1.500 CPU-s** with engagement, 1.000 without (B2): **+0.500 CPU-s** (+50%)",
	} {
		require.Contains(t, s, want)
	}
}

// The steady-state goal counts the measured broadcast's 429s, not the
// warm-up's (a first broadcast, with installs), and every violation.
func TestAtTheLimitCountsTheMeasuredBroadcast(t *testing.T) {
	t.Parallel()
	sc := Scenario{Options: demo.Options{RPS: 500}}
	r := &demo.Result{SteadyRate: 490,
		LedgerBefore: teamsim.Ledger{Throttled: 70, Requests: map[string]int64{"send": 20_000, "create": 20_000}},
		Ledger:       teamsim.Ledger{Throttled: 100, Requests: map[string]int64{"send": 60_000, "create": 20_000}},
	}
	got, ok := atTheLimit(sc, r)
	require.Equal(t, "98.0%, 0.07% 429s in the measured broadcast, 0 violations", got)
	require.True(t, ok)

	r.Ledger.Throttled = 120
	got, ok = atTheLimit(sc, r)
	require.Equal(t, "98.0%, 0.12% 429s in the measured broadcast, 0 violations", got)
	require.False(t, ok)

	r.Ledger.Throttled, r.Ledger.RetryAfterViolations = 100, 1
	_, ok = atTheLimit(sc, r)
	require.False(t, ok, "a violation of the warm-up counts")
}

// The host column reads this machine's CPU counters: two samples a moment
// apart give shares between 0 and 1.
func TestHostLoad(t *testing.T) {
	t.Parallel()
	a := sampleHost()
	require.True(t, a.ok, "/proc/stat is readable on Linux")
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); { // some CPU time to count
	}
	l, ok := loadBetween(a, sampleHost())
	require.True(t, ok)
	require.Greater(t, l.Busy, 0.0)
	require.LessOrEqual(t, l.Busy, 1.0)
	require.LessOrEqual(t, l.Stalled, 1.0)
	_, ok = loadBetween(hostSample{}, a)
	require.False(t, ok, "no figure from a failed sample")
}
