package metrics

import "time"

// Outcomes of an install.
const (
	InstallInstalled        = "installed"         // the app installed now
	InstallAlreadyInstalled = "already_installed" // it was installed: only the conversation looked up
	InstallRetried          = "retried"           // an error that may pass: retried later
	InstallFailed           = "failed"            // failed for good (reason says why)
	InstallBlocked          = "blocked"           // the bot is disabled in the tenant
)

// Routes of an install: Graph's lookups, the Connector's conversation, or
// the cache (filled meanwhile by the bot endpoint or an import).
const (
	RouteGraph     = "graph"
	RouteConnector = "connector"
	RouteCache     = "cache"
)

var (
	installs = factory.counter("installs_total",
		"Install attempts by tenant, outcome, route (graph, connector; empty when none finished) and reason of a failure.",
		"tenant", "outcome", "route", "reason")
	graphLatency = factory.histogram("graph_request_duration_seconds",
		"Duration of Microsoft Graph requests by kind (directory, install_get, install_post), each retry its own.",
		callBuckets, "kind")
	graphRequests = factory.counter("graph_requests_total",
		"Microsoft Graph requests by kind and HTTP status (429: throttled; none: no answer).", "kind", "status")
)

// Install counts one install's outcome.
func Install(tenant, outcome, route, reason string) {
	installs.WithLabelValues(tenant, outcome, route, reason).Inc()
}

// GraphCall counts one Graph request and observes its duration.
func GraphCall(kind string, status int, d time.Duration) {
	graphRequests.WithLabelValues(kind, Status(status)).Inc()
	graphLatency.WithLabelValues(kind).Observe(d.Seconds())
}
