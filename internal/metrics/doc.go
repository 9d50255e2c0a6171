// Package metrics defines the Prometheus metrics every binary exposes on
// its ops listener (internal/service: METRICS_ADDR, /metrics), all named
// broadcast_*, and the small functions the workers call where each outcome
// is decided: Sender.settle and Changer.settle for sends, edits and
// recalls, the installer's Handle and settleFailure for installs, the
// ratelimit gate for 429s, pauses and the learned rate, the dispatcher's
// expansion for its progress, and a middleware for the API.
//
// Labels are bounded sets only: tenant, stage, operation, outcome, reason,
// HTTP status code and route pattern. Never a broadcast or a user: a
// deployment sends millions of those, and each label value is a series
// kept for ever.
//
// The collectors live in Registry, one per process, with the Go runtime's
// and the process's own. The queue's depth is not pushed by anyone: a
// QueueCollector reads it from JetStream when /metrics is scraped, with a
// timeout and a short cache (see queue.go).
package metrics
