package demo

import (
	"fmt"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// UserKey names one simulated user.
type UserKey struct{ Tenant, User string }

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

// Tally is what the simulator's ledger shows each user got, against what
// the broadcasts created so far owed them.
type Tally struct {
	Owed      int64     // deliverable users owed at least one message
	Delivered int64     // of those, the ones who got at least what they were owed
	Missing   []UserKey // users who got fewer messages than they were owed
	// Extra is the number of messages beyond what users were owed: duplicates.
	Extra int64
	// Unowed are guests, blocked or disabled users who got a message.
	Unowed []UserKey
}

// tally goes through every user of tenants.
func tally(sim *teamsim.Sim, tenants []string, want map[UserKey]int) Tally {
	var t Tally
	for _, tenant := range tenants {
		for _, u := range sim.Users(tenant) {
			k := UserKey{tenant, u.ID}
			n := len(sim.UserDeliveries(tenant, u.ID))
			w := want[k]
			switch {
			case !deliverable(u):
				if n != 0 {
					t.Unowed = append(t.Unowed, k)
				}
				continue
			case w == 0:
				continue
			}
			t.Owed++
			if n < w {
				t.Missing = append(t.Missing, k)
			} else {
				t.Delivered++
				t.Extra += int64(n - w)
			}
		}
	}
	return t
}

// check compares the measured broadcasts' counters with the simulator's
// ledger and population, and every user's deliveries with the messages the
// run's broadcasts owed them (want).
func check(r *Result, sim *teamsim.Sim, want map[UserKey]int) []string {
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
	// A sender killed between Teams' answer and the record may leave
	// duplicates; the broadcast must report each (possibleDuplicates).
	var allowed int64
	if r.Killed != nil {
		allowed = c.PossibleDuplicates
	}
	expectEq("ledger deliveries", l.Deliveries-l.Duplicates, owed)
	expectEq("ledger users delivered", l.DeliveredUsers, int64(len(want)))
	if l.Duplicates > allowed {
		p = append(p, fmt.Sprintf("ledger duplicates: %d, expected at most %d (reported as possible duplicates)", l.Duplicates, allowed))
	}
	expectEq("ledger Retry-After violations", l.RetryAfterViolations, 0)
	tenants := make([]string, len(r.Tenants))
	for i, t := range r.Tenants {
		tenants[i] = t.Tenant
	}
	t := tally(sim, tenants, want)
	if t.Extra > allowed {
		p = append(p, fmt.Sprintf("messages beyond those owed: %d, expected at most %d", t.Extra, allowed))
	}
	for i, k := range t.Missing {
		if i == 10 {
			p = append(p, fmt.Sprintf("… %d users in all got fewer messages than owed", len(t.Missing)))
			break
		}
		p = append(p, fmt.Sprintf("user %s got %d messages, expected %d", k.User, len(sim.UserDeliveries(k.Tenant, k.User)), want[k]))
	}
	for i, k := range t.Unowed {
		if i == 10 {
			p = append(p, fmt.Sprintf("… %d guests, blocked or disabled users in all got messages", len(t.Unowed)))
			break
		}
		p = append(p, fmt.Sprintf("user %s (guest, blocked or disabled) got %d messages", k.User, len(sim.UserDeliveries(k.Tenant, k.User))))
	}
	return p
}
