package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	throttled = factory.counter("tenant_throttled_total",
		"429 answers of the Bot Connector by tenant: each pauses the tenant in every process.", "tenant")
	pauses = factory.counter("tenant_pauses_total",
		"Pauses of a tenant started by a 429 in this process (a 429 during a pause extends it and is not counted).", "tenant")
	pausedUntil = factory.gauge("tenant_paused_until_seconds",
		"Unix time at which the tenant's pause ends, as this process knows it: paused while it is above time().", "tenant")
	rate = factory.gauge("tenant_rate_rps",
		"The tenant's current Connector rate (requests/s) as this process last learned it: the configured rate until 429s lower it.", "tenant")
)

// Tenant holds a tenant's collectors, looked up once: a rate gate updates
// them on its hot path without hashing labels.
type Tenant struct {
	throttled, pauses prometheus.Counter
	pausedUntil, rate prometheus.Gauge
}

// ForTenant returns the tenant's collectors.
func ForTenant(tenant string) *Tenant {
	return &Tenant{throttled: throttled.WithLabelValues(tenant), pauses: pauses.WithLabelValues(tenant),
		pausedUntil: pausedUntil.WithLabelValues(tenant), rate: rate.WithLabelValues(tenant)}
}

// Throttled counts a 429; started tells whether it started a pause (the
// tenant was not paused before).
func (t *Tenant) Throttled(started bool) {
	t.throttled.Inc()
	if started {
		t.pauses.Inc()
	}
}

// PausedUntil records the end of the tenant's pause.
func (t *Tenant) PausedUntil(until time.Time) {
	t.pausedUntil.Set(float64(until.UnixNano()) / 1e9)
}

// Rate records the tenant's current rate.
func (t *Tenant) Rate(rps float64) { t.rate.Set(rps) }
