package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// run is a demo run once its servers and services are up.
type run struct {
	o               *Options
	sim             *teamsim.Sim
	api             *client
	procs           *processes
	tenants         []string
	work, pprofAddr string
	natsPID         int // NATS's own process (Options.NATSProcess); 0: inside this one
	// want is how many messages each deliverable user is owed by the
	// broadcasts created so far.
	want map[UserKey]int
}

// engagedWait bounds the wait for the users' engagement after a broadcast.
const engagedWait = 5 * time.Minute

// createRequest is the body of POST /v1/broadcasts.
type createRequest struct {
	Message  broadcast.Message  `json:"message"`
	Audience broadcast.Audience `json:"audience"`
	TenantID string             `json:"tenantId,omitempty"`
	Priority broadcast.Priority `json:"priority,omitempty"`
}

// create creates a broadcast of msg to the users of tenant (all of them
// when users is nil) and notes what it owes each of them.
func (r *run) create(ctx context.Context, tenant string, msg broadcast.Message, users []teamsim.User, priority broadcast.Priority) (*broadcast.Broadcast, error) {
	req := createRequest{Message: msg, Audience: broadcast.Audience{AllUsers: users == nil}, TenantID: tenant, Priority: priority}
	if users == nil {
		users = r.sim.Users(tenant)
	} else {
		for _, u := range users {
			req.Audience.UserIDs = append(req.Audience.UserIDs, u.ID)
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b, err := r.api.create(ctx, string(body))
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if deliverable(u) {
			r.want[UserKey{tenant, u.ID}]++
		}
	}
	return b, nil
}

// broadcasts sends the warm-up, if any, and the measured broadcast to every
// tenant at once, and checks the outcome.
func (r *run) broadcasts(ctx context.Context) (*Result, error) {
	o := r.o
	n := 1
	if o.Warm {
		fmt.Fprintln(o.Out, "warm-up broadcast: installs the app where needed and fills the conversation cache")
		ids := make([]string, len(r.tenants))
		for i, t := range r.tenants {
			var audience []teamsim.User // all users
			if o.NotInstalled > 0 {
				audience = haveApp(r.sim.Users(t))
			}
			b, err := r.create(ctx, t, announcement("Warm-up"), audience, "")
			if err != nil {
				return nil, err
			}
			ids[i] = b.ID
		}
		if _, err := o.watch(ctx, r.api, ids, r.procs); err != nil {
			return nil, err
		}
		if err := r.waitEngaged(ctx, engagedWait); err != nil {
			return nil, err
		}
		n++
	}
	var known int64
	if o.Warm {
		for _, t := range r.tenants {
			for _, u := range r.sim.Users(t) {
				if deliverable(u) && u.Installed {
					known++
				}
			}
		}
	}

	cpuBefore, err := childrenCPU()
	if err != nil {
		return nil, err
	}
	before := r.sim.Ledger()
	start := time.Now()
	prof := r.startProfile(ctx)
	ids := make([]string, len(r.tenants))
	for i, t := range r.tenants {
		msg := announcement("New travel policy from 1 December")
		if o.acknowledgeCard() {
			msg = withAcknowledge(msg)
		}
		b, err := r.create(ctx, t, msg, nil, "")
		if err != nil {
			prof.wait()
			return nil, err
		}
		fmt.Fprintf(o.Out, "broadcast %s accepted: sending to all users\n", b.ID)
		ids[i] = b.ID
	}
	uctx, stopUrgent := context.WithCancel(ctx)
	defer stopUrgent()
	urgent := r.startUrgent(uctx, ids[0])
	killing := r.startKill(uctx, ids[0], start)
	w, err := o.watch(ctx, r.api, ids, r.procs)
	elapsed := time.Since(start)
	if err == nil {
		err = r.waitEngaged(ctx, engagedWait) // what the users do costs the services too
	}
	cpuAfter, cpuErr := childrenCPU()
	if err != nil {
		stopUrgent() // the notice cannot complete either
	}
	urgentRes, urgentErr := urgent.wait()
	killed, killErr := killing.wait()
	profErr := prof.wait()
	if err != nil {
		return nil, err
	}
	if cpuErr != nil {
		return nil, cpuErr
	}
	sum := total(w.broadcasts)
	res := &Result{Broadcast: sum, Ledger: r.sim.Ledger(), LedgerBefore: before, Elapsed: elapsed, Tenant: r.tenants[0],
		SteadyRate: steadyRate(w.sum, sum.Counts.Total), Broadcasts: n, Senders: o.Senders, Pace: o.Pace,
		CPU: cpuSpent(cpuBefore, cpuAfter, r.cpuNames()), Known: known, InstallsDone: installsDone(w.sum, start),
		Urgent: urgentRes, Killed: killed}
	if known > 0 {
		res.KnownRate = rateBetween(w.sum, known/10, known*9/10, func(s sample) int64 { return s.sent })
	}
	var users []teamsim.User
	for i, t := range r.tenants {
		b := w.broadcasts[i]
		res.Tenants = append(res.Tenants, TenantResult{Tenant: t, Broadcast: b, SteadyRate: steadyRate(w.samples[i], b.Counts.Total)})
		users = append(users, r.sim.Users(t)...)
	}
	res.Expected = expect(users)
	res.Problems = check(res, r.sim, r.want)
	if urgentErr != nil {
		res.Problems = append(res.Problems, "urgent notice: "+urgentErr.Error())
	}
	if killErr != nil {
		res.Problems = append(res.Problems, "kill: "+killErr.Error())
	}
	if profErr != nil {
		res.Problems = append(res.Problems, "sender profile: "+profErr.Error())
	} else if prof.path != "" {
		res.Profile, res.ProfileTop = prof.path, pprofTop(ctx, r.o.BinDir, prof.path)
	}
	return res, nil
}

// haveApp are the members of users who have the app installed.
func haveApp(users []teamsim.User) []teamsim.User {
	var out []teamsim.User
	for _, u := range members(users) {
		if u.Installed {
			out = append(out, u)
		}
	}
	return out
}

// cpuNames names the processes whose CPU is measured, by process id: the
// services, NATS when it has its own process, and this one.
func (r *run) cpuNames() map[int]string {
	names := r.procs.byPID()
	if r.natsPID != 0 {
		names[r.natsPID] = "nats-server (bin/natsd)"
		names[os.Getpid()] = "this process (the simulator)"
	} else {
		names[os.Getpid()] = "this process (NATS, the simulator)"
	}
	return names
}
