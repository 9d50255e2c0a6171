package metrics

var (
	remindersSent = factory.counter("reminders_sent_total",
		"Reminders made, by tenant and origin: api (POST /v1/broadcasts/{id}/remind) or scheduled (a create's reminders).", "tenant", "origin")
	remindersSkipped = factory.counter("reminders_skipped_total",
		"Scheduled reminders skipped: their broadcast was canceled, recalled or failed, or nobody was left to remind.")
)

// ReminderSent counts a reminder made.
func ReminderSent(tenant, origin string) { remindersSent.WithLabelValues(tenant, origin).Inc() }

// ReminderSkipped counts a scheduled reminder skipped.
func ReminderSkipped() { remindersSkipped.WithLabelValues().Inc() }
