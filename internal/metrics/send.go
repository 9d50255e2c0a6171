package metrics

import "time"

// Outcomes of a send, an edit or a recall, as Sender.settle and
// Changer.settle decide them.
const (
	OutcomeSent        = "sent"        // delivered
	OutcomeDone        = "done"        // an edit or a recall made
	OutcomeSkipped     = "skipped"     // an edit or a recall whose message is gone
	OutcomeThrottled   = "throttled"   // 429: the tenant paused, the job retried later
	OutcomeRetried     = "retried"     // an answer that may pass: retried with backoff
	OutcomeBlocked     = "blocked"     // the user blocked the bot, or it is disabled
	OutcomeReinstall   = "reinstall"   // the app or the conversation is gone: back to install
	OutcomeFailed      = "failed"      // failed for good (kept for a replay when it may pass)
	OutcomeInterrupted = "interrupted" // shutdown cut the call: the job is redelivered
)

// Connector operations, the label of the call latency.
const (
	OpSend               = "send"
	OpUpdate             = "update"
	OpDelete             = "delete"
	OpCreateConversation = "create_conversation"
)

var (
	sends = factory.counter("sends_total",
		"Send attempts by tenant, outcome and the Connector's HTTP status (2xx delivered, none: no answer).",
		"tenant", "outcome", "status")
	changes = factory.counter("changes_total",
		"Edit (update) and recall (delete) attempts by tenant, operation, outcome and HTTP status.",
		"tenant", "operation", "outcome", "status")
	connectorLatency = factory.histogram("connector_request_duration_seconds",
		"Duration of Bot Connector calls by operation (send, update, delete, create_conversation).",
		callBuckets, "operation")
)

// Send counts one send's outcome. status is the Connector's answer (0:
// none; a delivery, which carries no status, is counted as 2xx).
func Send(tenant, outcome string, status int) {
	s := Status(status)
	if outcome == OutcomeSent {
		s = "2xx"
	}
	sends.WithLabelValues(tenant, outcome, s).Inc()
}

// Change counts one edit's or recall's outcome; op is "edit" or "recall".
func Change(tenant, op, outcome string, status int) {
	s := Status(status)
	if outcome == OutcomeDone {
		s = "2xx"
	}
	changes.WithLabelValues(tenant, op, outcome, s).Inc()
}

// ConnectorCall observes the duration of one Connector call.
func ConnectorCall(op string, d time.Duration) {
	connectorLatency.WithLabelValues(op).Observe(d.Seconds())
}
