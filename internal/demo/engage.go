package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Users' engagement in a run: the simulator's users read, react,
// acknowledge and reply (Options.Engagement), and the bot endpoint under
// a constant load of such activities (Options.EndpointLoad).

// EndpointLoad posts engagement activities to the dispatcher's bot
// endpoint at Rate per second for Duration, after the broadcasts, each
// about a message the user got: half read receipts, a quarter reactions,
// 15% acknowledges (invokes, their answers checked), 10% replies.
type EndpointLoad struct {
	Rate     int
	Duration time.Duration
}

// EndpointResult is what the load measured. Each latency is from when the
// activity was due (open loop: a slow answer does not delay the next) to
// the end of the bot's answer.
type EndpointResult struct {
	Rate          int
	Duration      time.Duration // from the first due time to the last answer
	Posted        int
	Statuses      map[int]int    // the bot's answers; 0: none
	Invokes       map[string]int // by teamsim.InvokeValid, ...
	P50, P99, Max time.Duration
	// CPU is what each process used during the load.
	CPU []ProcessCPU
}

// loadMix is the kinds of the load, one activity each, in turn.
var loadMix = func() []string {
	var m []string
	for kind, n := range map[string]int{teamsim.EngageRead: 10, teamsim.EngageReaction: 5, teamsim.EngageAcknowledge: 3, teamsim.EngageReply: 2} {
		for range n {
			m = append(m, kind)
		}
	}
	slices.Sort(m)
	return m
}()

// maxLoadInFlight bounds the posts in flight; past it the load falls
// behind its schedule, which the latencies (from the due time) show.
const maxLoadInFlight = 512

// engagementOn reports whether the run's users engage.
func (o *Options) engagementOn() bool { return o.Engagement.Read > 0 }

// acknowledgeCard: the announcement gets an acknowledge button when users
// may click one.
func (o *Options) acknowledgeCard() bool {
	return o.Engagement.Acknowledge > 0 || o.EndpointLoad.Rate > 0
}

// withAcknowledge adds an Action.Execute "Got it" to an announcement's card.
func withAcknowledge(m broadcast.Message) broadcast.Message {
	var card map[string]any
	if json.Unmarshal(m.Card, &card) != nil {
		return m
	}
	actions, _ := card["actions"].([]any)
	card["actions"] = append(actions, map[string]any{"type": "Action.Execute", "title": "Got it", "verb": "acknowledge",
		"data": map[string]any{"source": "demo"}})
	m.Card, _ = json.Marshal(card)
	return m
}

// waitEngaged waits until the users have done what they planned, at most
// timeout: their activities land in the run's CPU figures.
func (r *run) waitEngaged(ctx context.Context, timeout time.Duration) error {
	if !r.o.engagementOn() {
		return nil
	}
	deadline, lastLine := time.Now().Add(timeout), time.Now()
	for r.sim.Ledger().Engagement.Pending > 0 {
		if time.Since(lastLine) > 3*time.Second {
			fmt.Fprintln(r.o.Out, r.engagedLine())
			lastLine = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("users still had %d engagements planned %s after the broadcast", r.sim.Ledger().Engagement.Pending, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// engagedLine says how far the users' reading and acknowledging got, of
// the messages delivered.
func (r *run) engagedLine() string {
	l := r.sim.Ledger()
	e, n := l.Engagement, float64(max(l.Deliveries, 1))
	return fmt.Sprintf("users engaging: read %d (%.1f%% of deliveries; %d receipts posted), acknowledged %d (%.1f%%), %d reactions, %d replies, %d still to come",
		e.Reads, 100*float64(e.Reads)/n, e.Receipts, e.InvokesValid+e.InvokesInvalid+e.InvokesLate,
		100*float64(e.InvokesValid+e.InvokesInvalid+e.InvokesLate)/n, e.Reactions, e.Replies, e.Pending)
}

// loadTarget is a user and the last message they got.
type loadTarget struct{ tenant, user, activity string }

// endpointLoad runs Options.EndpointLoad.
func (r *run) endpointLoad(ctx context.Context) (*EndpointResult, error) {
	load := r.o.EndpointLoad
	var targets []loadTarget
	for _, t := range r.tenants {
		for _, u := range r.sim.Users(t) {
			if acts := r.sim.UserActivities(t, u.ID); len(acts) > 0 {
				targets = append(targets, loadTarget{t, u.ID, acts[len(acts)-1].ID})
			}
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("endpoint load: no user got a message to engage with")
	}
	fmt.Fprintf(r.o.Out, "bot endpoint load: %d engagement activities/s for %s, about the messages of %d users\n", load.Rate, load.Duration, len(targets))
	n := int(float64(load.Rate) * load.Duration.Seconds())
	interval := time.Second / time.Duration(load.Rate)
	res := &EndpointResult{Rate: load.Rate, Statuses: map[int]int{}, Invokes: map[string]int{}}
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxLoadInFlight)
	var firstErr error
	cpuBefore, err := childrenCPU()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return nil, ctx.Err()
			case <-time.After(d):
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		}
		tg := targets[i%len(targets)]
		req := teamsim.EngageRequest{Tenant: tg.tenant, User: tg.user, Kind: loadMix[i%len(loadMix)], ActivityID: tg.activity,
			Text: "Thanks, noted."}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := r.sim.Engage(ctx, req)
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			lat = append(lat, took)
			res.Statuses[out.Status]++
			if out.Invoke != "" {
				res.Invokes[out.Invoke]++
			}
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	cpuAfter, err := childrenCPU()
	if err != nil {
		return nil, err
	}
	res.CPU = cpuSpent(cpuBefore, cpuAfter, r.cpuNames())
	if firstErr != nil {
		return nil, fmt.Errorf("endpoint load: %w", firstErr)
	}
	slices.Sort(lat)
	res.Posted = len(lat)
	res.P50, res.P99, res.Max = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
	return res, nil
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// printEngagement writes the users' engagement and the endpoint load.
func printEngagement(w io.Writer, r *Result) {
	e := r.Ledger.Engagement
	row := func(name string, theirs any) { fmt.Fprintf(w, "  %-34s %10s %10v\n", name, "", theirs) }
	if e.Reads+e.Invokes+e.Reactions+e.Replies > 0 {
		row("read (users) / receipts posted", fmt.Sprintf("%d / %d", e.Reads, e.Receipts))
		row("acknowledged: valid/invalid/late", fmt.Sprintf("%d/%d/%d", e.InvokesValid, e.InvokesInvalid, e.InvokesLate))
		row("reactions / replies", fmt.Sprintf("%d / %d", e.Reactions, e.Replies))
		if e.Duplicates > 0 {
			row("posted twice (same activity)", e.Duplicates)
		}
		if e.Failed+e.Dropped > 0 {
			row("engagement not taken / dropped", fmt.Sprintf("%d / %d", e.Failed, e.Dropped))
		}
	}
	if l := r.Endpoint; l != nil {
		fmt.Fprintf(w, "\nbot endpoint at %d activities/s: %d posted in %s (%.0f/s), latency p50 %s, p99 %s, max %s; answers %v; invokes %v\n",
			l.Rate, l.Posted, l.Duration.Round(100*time.Millisecond), float64(l.Posted)/l.Duration.Seconds(),
			l.P50.Round(100*time.Microsecond), l.P99.Round(100*time.Microsecond), l.Max.Round(100*time.Microsecond), l.Statuses, l.Invokes)
	}
}
