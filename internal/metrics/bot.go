package metrics

import "time"

// Outcomes of an activity posted to the bot's messaging endpoint.
const (
	BotInstalled   = "installed"   // an install: the conversation cached
	BotUninstalled = "uninstalled" // an uninstall: the conversation forgotten
	BotDuplicate   = "duplicate"   // an install announced again (conversationUpdate and installationUpdate), or an engagement already recorded
	BotEngaged     = "engaged"     // a read receipt, reaction, card action or reply recorded
	BotIgnored     = "ignored"     // authentic, nothing to do (another type, scope or tenant)
	BotRejected    = "rejected"    // refused: not authenticated, not allowed, malformed, or not stored
)

var botActivities = factory.counter("bot_activities_total",
	"Activities posted to the bot's messaging endpoint (POST /api/messages) by outcome and the HTTP status answered: "+
		"installed and uninstalled moving show that Teams reaches the endpoint; an install is counted once, its second announcement as duplicate.", "outcome", "code")

// BotActivity counts one request to the bot's messaging endpoint.
func BotActivity(outcome string, code int) {
	botActivities.WithLabelValues(outcome, Status(code)).Inc()
}

// Activity types of the latency histogram; others are "other".
var botTypes = map[string]bool{"message": true, "messageReaction": true, "invoke": true, "event": true,
	"conversationUpdate": true, "installationUpdate": true}

// botBuckets: the endpoint answers in milliseconds; an invoke must be
// answered within about 5 s.
var botBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

var botLatency = factory.histogram("bot_activity_duration_seconds",
	"Time the bot's messaging endpoint took to answer an authenticated activity (reading and authenticating it included), by activity type.", botBuckets, "type")

// BotLatency records how long an activity of type typ took to answer.
func BotLatency(typ string, d time.Duration) {
	if !botTypes[typ] {
		typ = "other"
	}
	botLatency.WithLabelValues(typ).Observe(d.Seconds())
}

// Kinds of engagement.
const (
	EngageRead            = "read"             // a recipient newly read a broadcast
	EngageAcknowledged    = "acknowledged"     // a recipient acknowledged a broadcast
	EngageReactionAdded   = "reaction_added"   // a reaction added to a broadcast
	EngageReactionRemoved = "reaction_removed" // a reaction removed
	EngageAction          = "action"           // an Action.Execute recorded
	EngageReply           = "reply"            // a reply kept
	EngageReceipt         = "receipt"          // a read receipt received
)

var engagement = factory.counter("engagement_total",
	"Engagement recorded by the bot endpoint, by kind: read and acknowledged count recipients (once each per broadcast), "+
		"the others activities (a repeated one once).", "kind")

// Engagement counts n engagements of kind.
func Engagement(kind string, n int) {
	if n > 0 {
		engagement.WithLabelValues(kind).Add(float64(n))
	}
}
