package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// The stall scenario freezes Redis (SIGSTOP), NATS (its proxy) or both,
// for 4 to 10 s, while API calls arrive: creates (half with an
// Idempotency-Key; a burst of them around the moment of the freeze), a
// cancel of a scheduled broadcast and a replay of a failed recipient,
// each for a user of its own who already has the broadcast's message. A client retries a create that was not answered
// with a broadcast, as told (the same key; without one, after looking up
// an outcome_unknown's broadcast); a cancel or a replay is not retried,
// so that what its answer left is seen. verifyCalls then checks each call
// against the store and the ledger: an error answer (but outcome_unknown)
// means the call did not happen and never will, a success that it did,
// and each user got exactly the messages the answers account for.

// call is one API call of the stall scenario and the client's retries.
type call struct {
	kind   string // create, cancel or replay
	user   string
	text   string        // a create's message
	key    string        // a create's Idempotency-Key, if any
	target string        // the broadcast a cancel or a replay acts on
	at     time.Duration // when it is made, from the freeze
	// mainHash is the content of the broadcast's message, which the user
	// had before the call: the user's other deliveries are the call's.
	mainHash string
	tries    []answer
	id       string // the broadcast a create made (its last answer's)
	err      error  // the client's own failure: the API did not answer
}

// answer is one answer of the API.
type answer struct {
	status int
	code   string // an error's
	id     string // the broadcast named
	replay broadcast.ReplayResult
}

func (a answer) ok() bool { return a.status >= 200 && a.status < 300 }

// undecided reports an outcome_unknown answer.
func (a answer) undecided() bool { return a.code == "outcome_unknown" }

// callTimeout bounds one call with its retries.
const callTimeout = 2 * time.Minute

// burst is how many creates arrive around the moment a stall begins,
// within burstLead either side: a few are caught with their write sent
// and its answer not read yet.
const (
	burst     = 6
	burstLead = 200 * time.Millisecond
)

// stalls runs the plan: per stall, a failed recipient to replay and a
// scheduled broadcast to cancel are made while nothing is frozen, then
// Redis, NATS or both freeze, with calls arriving from just before the
// freeze to half way through it.
func (r *runner) stalls(ctx context.Context) error {
	n := r.o.Disruptions
	if n == 0 {
		n = 3
	}
	const perStall = 4 + burst
	users, err := r.deliveredUsers(ctx, perStall*n)
	if err != nil {
		return err
	}
	for i := range n {
		if err := sleep(ctx, r.between(time.Second, 3*time.Second)); err != nil {
			return err
		}
		u := users[perStall*i : perStall*(i+1)]
		failed, err := r.failedBroadcast(ctx, u[0].user, fmt.Sprintf("Stall %d: to replay", i))
		if err != nil {
			return err
		}
		scheduled, err := r.scheduled(ctx, u[1].user, fmt.Sprintf("Stall %d: to cancel", i), 30*time.Second)
		if err != nil {
			return err
		}
		d := r.between(4*time.Second, 10*time.Second)
		during := func() time.Duration { return r.between(-burstLead, d/2) }
		calls := []*call{
			{kind: "replay", target: failed, at: during()},
			{kind: "cancel", target: scheduled, at: during()},
			{kind: "create", text: fmt.Sprintf("Stall %d: created (seed %d)", i, r.o.Seed), at: during()},
			{kind: "create", text: fmt.Sprintf("Stall %d: created with a key (seed %d)", i, r.o.Seed), at: during(),
				key: fmt.Sprintf("stall-%d-%d", r.o.Seed, i)},
		}
		for j := range burst {
			c := &call{kind: "create", text: fmt.Sprintf("Stall %d: burst %d (seed %d)", i, j, r.o.Seed),
				at: -burstLead + time.Duration(j)*2*burstLead/burst}
			if j%2 == 1 {
				c.key = fmt.Sprintf("stall-%d-%d-burst-%d", r.o.Seed, i, j)
			}
			calls = append(calls, c)
		}
		for j, c := range calls {
			c.user, c.mainHash = u[j].user, u[j].mainHash
		}
		if err := r.stall(ctx, i, d, calls); err != nil {
			return err
		}
	}
	return nil
}

// stall freezes what the ith stall freezes for d, with each call made at
// its time from the freeze (before it, if negative), thaws it and waits
// for every answer.
func (r *runner) stall(ctx context.Context, i int, d time.Duration, calls []*call) error {
	freeze, thaw, what := r.freezers(i)
	frozenAt := time.Now().Add(burstLead)
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if sleep(cctx, time.Until(frozenAt.Add(c.at))) == nil {
				r.make(cctx, c)
			}
		})
	}
	time.Sleep(time.Until(frozenAt))
	if err := freeze(); err != nil {
		return err
	}
	r.mu.Lock()
	r.restarts++
	r.mu.Unlock()
	fmt.Fprintf(r.o.Out, "%s: %s frozen at %.0f%% done for %s; %d calls\n", r.s.Name, what, 100*r.doneShare(), d.Round(time.Millisecond), len(calls))
	time.Sleep(d)
	if err := thaw(); err != nil {
		return err
	}
	wg.Wait()
	for _, c := range calls {
		fmt.Fprintf(r.o.Out, "%s: %s\n", r.s.Name, c)
	}
	r.mu.Lock()
	r.calls = append(r.calls, calls...)
	r.mu.Unlock()
	return nil
}

// freezers returns how the ith stall freezes and thaws, and what: Redis,
// NATS, then both, in turn.
func (r *runner) freezers(i int) (freeze, thaw func() error, what string) {
	redisFreeze, redisThaw := r.redis.Freeze, r.redis.Thaw
	natsFreeze := func() error { r.proxy.Freeze(); return nil }
	natsThaw := func() error { r.proxy.Thaw(); return nil }
	switch i % 3 {
	case 0:
		return redisFreeze, redisThaw, "Redis"
	case 1:
		return natsFreeze, natsThaw, "NATS"
	}
	both := func(a, b func() error) func() error {
		return func() error {
			if err := a(); err != nil {
				return err
			}
			return b()
		}
	}
	return both(redisFreeze, natsFreeze), both(redisThaw, natsThaw), "Redis and NATS"
}

// make makes c and, for a create, retries it until it answers a broadcast.
func (r *runner) make(ctx context.Context, c *call) {
	switch c.kind {
	case "cancel":
		c.try(ctx, r, http.MethodPost, "/v1/broadcasts/"+c.target+"/cancel", nil)
	case "replay":
		c.try(ctx, r, http.MethodPost, "/v1/broadcasts/"+c.target+"/replay", []byte(`{}`))
	case "create":
		body, _ := json.Marshal(map[string]any{"message": map[string]string{"text": c.text},
			"audience": map[string][]string{"userIds": {c.user}}})
		for c.err == nil {
			a := c.try(ctx, r, http.MethodPost, "/v1/broadcasts", body)
			switch {
			case c.err != nil:
				return
			case a.ok():
				c.id = a.id
				return
			case a.undecided() && c.key == "":
				// Without a key, look the broadcast up before creating it again.
				if c.exists(ctx, r, a.id) {
					c.id = a.id
					return
				}
			case a.status != http.StatusServiceUnavailable && a.status != http.StatusConflict:
				return // refused: the check says so
			}
			if err := sleep(ctx, time.Second); err != nil {
				c.err = err
			}
		}
	}
}

// try makes one request of c and notes its answer.
func (c *call) try(ctx context.Context, r *runner, method, path string, body []byte) answer {
	h := http.Header{}
	if c.key != "" {
		h.Set(broadcast.IdempotencyHeader, c.key)
	}
	status, data, err := r.env.Call(ctx, method, path, body, h)
	if err != nil {
		c.err = err
		return answer{}
	}
	a := answer{status: status}
	var e struct {
		Error struct {
			Code        string `json:"code"`
			BroadcastID string `json:"broadcastId"`
		} `json:"error"`
	}
	switch {
	case !a.ok():
		_ = json.Unmarshal(data, &e)
		a.code, a.id = e.Error.Code, e.Error.BroadcastID
	case c.kind == "replay":
		_ = json.Unmarshal(data, &a.replay)
	default:
		var b broadcast.Broadcast
		_ = json.Unmarshal(data, &b)
		a.id = b.ID
	}
	c.tries = append(c.tries, a)
	return a
}

// exists looks broadcast id up until the API answers.
func (c *call) exists(ctx context.Context, r *runner, id string) bool {
	for {
		status, _, err := r.env.Call(ctx, http.MethodGet, "/v1/broadcasts/"+id, nil, nil)
		switch {
		case err != nil:
			c.err = err
			return false
		case status == http.StatusOK:
			return true
		case status == http.StatusNotFound:
			return false
		}
		if err := sleep(ctx, time.Second); err != nil {
			c.err = err
			return false
		}
	}
}

func (c *call) String() string {
	s := c.kind + " for " + c.user
	if c.target != "" {
		s += " of " + c.target
	}
	if c.key != "" {
		s += " (key)"
	}
	s += ":"
	for _, a := range c.tries {
		s += " " + strconv.Itoa(a.status)
		if a.code != "" {
			s += " " + a.code
		}
	}
	if c.err != nil {
		s += " (" + c.err.Error() + ")"
	}
	return s
}

// probeUser is a user who has the broadcast's message, with its content.
type probeUser struct{ user, mainHash string }

// deliveredUsers returns n deliverable users who have the broadcast's
// message already, waiting for the broadcast to reach that many.
func (r *runner) deliveredUsers(ctx context.Context, n int) ([]probeUser, error) {
	sim, tenant := r.env.Sim(), r.env.Tenants()[0]
	for {
		var out []probeUser
		for _, u := range sim.Users(tenant) {
			if ds := sim.UserDeliveries(tenant, u.ID); len(ds) == 1 && u.UserType != "Guest" && !u.Blocked && !u.Disabled {
				out = append(out, probeUser{u.ID, ds[0].ContentHash})
			}
		}
		if len(out) >= n {
			r.mu.Lock()
			r.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			r.mu.Unlock()
			return out[:n], nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// failedBroadcast sends text to user with the user's next send answered
// 500 (failed/service_error, replayable), and returns the broadcast once
// it has completed.
func (r *runner) failedBroadcast(ctx context.Context, user, text string) (string, error) {
	r.env.Sim().Inject(r.env.Tenants()[0], user, teamsim.Fault{Status: http.StatusInternalServerError, Code: "ServiceError"})
	id, err := r.create(ctx, user, text, nil)
	if err != nil {
		return "", err
	}
	b, err := r.final(ctx, id)
	if err != nil {
		return "", err
	}
	if b.Counts.Failed != 1 {
		return "", fmt.Errorf("broadcast %s to fail: %s", id, countsLine(b.Counts))
	}
	return id, nil
}

// scheduled schedules text to user in after.
func (r *runner) scheduled(ctx context.Context, user, text string, after time.Duration) (string, error) {
	at := time.Now().Add(after).UTC().Format(time.RFC3339Nano)
	return r.create(ctx, user, text, map[string]any{"sendAt": at})
}

func (r *runner) create(ctx context.Context, user, text string, extra map[string]any) (string, error) {
	req := map[string]any{"message": map[string]string{"text": text}, "audience": map[string][]string{"userIds": {user}}}
	for k, v := range extra {
		req[k] = v
	}
	body, _ := json.Marshal(req)
	status, data, err := r.env.Call(ctx, http.MethodPost, "/v1/broadcasts", body, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("create %q: %d: %s", text, status, data)
	}
	var b broadcast.Broadcast
	if err := json.Unmarshal(data, &b); err != nil {
		return "", err
	}
	return b.ID, nil
}

// final waits until broadcast id has ended, and returns it.
func (r *runner) final(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	for {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := r.env.Get(gctx, id)
		cancel()
		if err == nil && b.Status.Ended() {
			return b, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			if b != nil {
				return nil, fmt.Errorf("broadcast %s did not end: %s, %s", id, b.Status, countsLine(b.Counts))
			}
			return nil, fmt.Errorf("broadcast %s did not end: %w", id, err)
		}
	}
}

// verifyCalls checks every call of the stall scenario against the store
// and the ledger, once what they made has ended, and notes the messages
// they owe for the ledger's check.
func (r *runner) verifyCalls(ctx context.Context) []string {
	var p []string
	problem := func(c *call, format string, args ...any) {
		p = append(p, c.String()+": "+fmt.Sprintf(format, args...))
	}
	sim, tenant := r.env.Sim(), r.env.Tenants()[0]
	for _, c := range r.calls {
		if c.err != nil || len(c.tries) == 0 {
			problem(c, "the API never answered")
			continue
		}
		a := c.tries[len(c.tries)-1]
		switch c.kind {
		case "create":
			r.env.Owe(tenant, c.user, 1)
			if c.id == "" {
				problem(c, "no broadcast was created")
				break
			}
			if _, err := r.final(ctx, c.id); err != nil {
				problem(c, "%v", err)
			}
			if got := countDeliveries(sim, tenant, c.user, c.mainHash); got != 1 {
				problem(c, "%d messages, expected 1: an answer without a broadcast was one after all", got)
			}
		case "cancel":
			b, err := r.final(ctx, c.target)
			if err != nil {
				problem(c, "%v", err)
				break
			}
			r.env.Owe(tenant, c.user, int(b.Counts.Sent))
			canceled := b.CanceledAt != nil
			switch {
			case a.ok() && !canceled:
				problem(c, "answered %d, and the broadcast is %s: not canceled", a.status, b.Status)
			case !a.ok() && !a.undecided() && canceled:
				problem(c, "answered %d %s, and the broadcast was canceled", a.status, a.code)
			}
			if got := countDeliveries(sim, tenant, c.user, c.mainHash); int64(got) != b.Counts.Sent {
				problem(c, "%d messages, the broadcast says %d sent", got, b.Counts.Sent)
			}
		case "replay":
			b, err := r.final(ctx, c.target)
			if err != nil {
				problem(c, "%v", err)
				break
			}
			recs, err := r.env.Recipients(ctx, c.target)
			if err != nil || len(recs) != 1 {
				problem(c, "its recipient: %v (%d)", err, len(recs))
				break
			}
			rec := recs[0]
			sent := 0
			if rec.State == broadcast.StateSent {
				sent = 1
			}
			r.env.Owe(tenant, c.user, sent)
			switch {
			case a.ok() && a.replay.Queued > 0 && sent == 0:
				problem(c, "answered %d queued %d, and the recipient is %s/%s", a.status, a.replay.Queued, rec.State, rec.Reason)
			case a.ok() && a.replay.Queued == 0 && !a.replay.Incomplete && sent == 1:
				problem(c, "answered %d, nothing queued, and the recipient was sent", a.status)
			case !a.ok() && !a.undecided() && (sent == 1 || rec.ReplayRound > 0 || b.Replays > 0):
				problem(c, "answered %d %s, and the replay happened: recipient %s in round %d, %d replays", a.status, a.code, rec.State, rec.ReplayRound, b.Replays)
			}
			if got := countDeliveries(sim, tenant, c.user, c.mainHash); got != sent {
				problem(c, "%d messages, the recipient is %s", got, rec.State)
			}
		}
	}
	return p
}

// countDeliveries counts the user's deliveries of other content than
// mainHash's.
func countDeliveries(sim *teamsim.Sim, tenant, user, mainHash string) int {
	n := 0
	for _, d := range sim.UserDeliveries(tenant, user) {
		if d.ContentHash != mainHash {
			n++
		}
	}
	return n
}
