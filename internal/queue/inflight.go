package queue

import (
	"math"
	"sync"
	"time"
)

// InFlight sizes a tenant's lane by Little's law: to keep up a rate, a
// process needs rate x (the time a job is busy) jobs in hand, plus
// headroom so that a slot never passes without a job waiting for it. A
// fixed number is too few when the service is slow (at 500/s and 100 ms,
// 50 are busy at once) and too many when it is fast. Use its Limit as
// SchedulerConfig.Limit and call Observe as each job ends.
type InFlight struct {
	rate    func(tenant string) float64
	ceiling int

	mu   sync.Mutex
	busy map[string]float64 // seconds, EWMA, by tenant
}

const (
	inFlightAlpha    = 0.05 // weight of a new observation: about the last 20 jobs
	inFlightHeadroom = 1.5
	inFlightSpare    = 4
)

// NewInFlight returns an InFlight for tenants paced at rate(tenant)
// requests/s (all processes together: each process may then hold a whole
// rate's worth, which the tenant's shared budget keeps in check), never
// above ceiling jobs. Until a tenant's first job ends, its limit is the
// ceiling.
func NewInFlight(rate func(tenant string) float64, ceiling int) *InFlight {
	return &InFlight{rate: rate, ceiling: max(ceiling, 1), busy: make(map[string]float64)}
}

// Observe records how long a job of the tenant was busy: its whole time in
// hand, less any time it only waited for the tenant's slot.
func (f *InFlight) Observe(tenant string, busy time.Duration) {
	s := max(busy, 0).Seconds()
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.busy[tenant]; ok {
		s = old + inFlightAlpha*(s-old)
	}
	f.busy[tenant] = s
}

// Limit is how many of the tenant's jobs may be in hand now.
func (f *InFlight) Limit(tenant string) int {
	f.mu.Lock()
	busy, ok := f.busy[tenant]
	f.mu.Unlock()
	if !ok {
		return f.ceiling
	}
	n := int(math.Ceil(f.rate(tenant)*busy*inFlightHeadroom)) + inFlightSpare
	return min(f.ceiling, n)
}
