package broadcast

// Priority orders broadcasts that share a tenant's send budget. Broadcasts
// of one priority share it equally; an urgent one takes most of it while it
// has recipients left (see Weight), so a short HR notice sent during an
// org-wide announcement is delivered in seconds, not after it.
type Priority string

const (
	PriorityNormal Priority = "normal"
	PriorityUrgent Priority = "urgent"
)

// Priorities lists the valid priorities.
var Priorities = []Priority{PriorityUrgent, PriorityNormal}

// Valid reports whether p is one of Priorities.
func (p Priority) Valid() bool {
	for _, v := range Priorities {
		if p == v {
			return true
		}
	}
	return false
}

// Weight is the share of the send budget a broadcast of this priority gets
// relative to a normal one when both have recipients waiting. Urgent is not
// absolute: a large urgent broadcast slows the others without stopping them.
func (p Priority) Weight() int {
	if p == PriorityUrgent {
		return 16
	}
	return 1
}

// OrNormal returns p, or normal when p is unset (and for unknown values read
// from an older record).
func (p Priority) OrNormal() Priority {
	if p.Valid() {
		return p
	}
	return PriorityNormal
}
