package demo

import (
	"fmt"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// userKey names one simulated user.
type userKey struct{ tenant, user string }

// deliverable reports whether u is a member who can get the bot's messages.
func deliverable(u teamsim.User) bool {
	return u.UserType != "Guest" && !u.Blocked && !u.Disabled
}

func members(users []teamsim.User) []teamsim.User {
	var out []teamsim.User
	for _, u := range users {
		if u.UserType != "Guest" {
			out = append(out, u)
		}
	}
	return out
}

func expect(users []teamsim.User) Expected {
	var e Expected
	for _, u := range users {
		if u.UserType == "Guest" {
			continue
		}
		e.Members++
		if u.Blocked || u.Disabled {
			e.Blocked++
		} else {
			e.Deliverable++
		}
	}
	return e
}

// check compares the measured broadcasts' counters with the simulator's
// ledger and population, and every user's deliveries with the messages the
// run's broadcasts owed them (want).
func check(r *Result, sim *teamsim.Sim, want map[userKey]int) []string {
	var p []string
	c, l, e := r.Broadcast.Counts, r.Ledger, r.Expected
	expectEq := func(what string, got, want int64) {
		if got != want {
			p = append(p, fmt.Sprintf("%s: %d, expected %d", what, got, want))
		}
	}
	var owed int64
	for _, n := range want {
		owed += int64(n)
	}
	expectEq("recipients", c.Total, int64(e.Members))
	expectEq("sent", c.Sent, int64(e.Deliverable))
	expectEq("blocked", c.Blocked, int64(e.Blocked))
	expectEq("failed", c.Failed, 0)
	expectEq("left pending", c.Pending+c.Installing+c.Sending, 0)
	expectEq("ledger deliveries", l.Deliveries, owed)
	expectEq("ledger users delivered", l.DeliveredUsers, int64(len(want)))
	expectEq("ledger duplicates", l.Duplicates, 0)
	expectEq("ledger Retry-After violations", l.RetryAfterViolations, 0)
	for _, t := range r.Tenants {
		for _, u := range sim.Users(t.Tenant) {
			n := len(sim.UserDeliveries(t.Tenant, u.ID))
			switch w := want[userKey{t.Tenant, u.ID}]; {
			case !deliverable(u):
				if n != 0 {
					p = append(p, fmt.Sprintf("user %s (guest, blocked or disabled) got %d messages", u.ID, n))
				}
			case n != w:
				p = append(p, fmt.Sprintf("user %s got %d messages, expected exactly %d", u.ID, n, w))
			}
			if len(p) > 20 {
				return append(p, "…")
			}
		}
	}
	return p
}
