package metrics

// Outcomes of an activity posted to the bot's messaging endpoint.
const (
	BotInstalled   = "installed"   // an install: the conversation cached
	BotUninstalled = "uninstalled" // an uninstall: the conversation forgotten
	BotIgnored     = "ignored"     // authentic, nothing to do (another type, scope or tenant)
	BotRejected    = "rejected"    // refused: not authenticated, not allowed, malformed, or not stored
)

var botActivities = factory.counter("bot_activities_total",
	"Activities posted to the bot's messaging endpoint (POST /api/messages) by outcome and the HTTP status answered: "+
		"installed and uninstalled moving show that Teams reaches the endpoint.", "outcome", "code")

// BotActivity counts one request to the bot's messaging endpoint.
func BotActivity(outcome string, code int) {
	botActivities.WithLabelValues(outcome, Status(code)).Inc()
}
