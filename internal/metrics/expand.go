package metrics

var (
	audienceResolved = factory.counter("expansion_audience_resolved_total",
		"Recipients of resolved audiences, by tenant: added when a broadcast's audience resolution finishes.", "tenant")
	recipientsRecorded = factory.counter("expansion_recipients_total",
		"Recipients recorded by the expansion, by tenant (a resumed page's are counted again).", "tenant")
	jobsPublished = factory.counter("expansion_jobs_published_total",
		"Jobs the expansion published and JetStream stored, by tenant and stage (install, send).", "tenant", "stage")
	expansionsDone = factory.counter("expansions_completed_total",
		"Expansions that reached the audience's last page, by tenant.", "tenant")
	expanding = factory.gauge("expansions_running",
		"Broadcasts whose audience this dispatcher is resolving or expanding now.").WithLabelValues()
)

// AudienceResolved counts the recipients of an audience resolved.
func AudienceResolved(tenant string, n int64) {
	audienceResolved.WithLabelValues(tenant).Add(float64(n))
}

// RecipientsRecorded counts recipients recorded from a page.
func RecipientsRecorded(tenant string, n int) {
	recipientsRecorded.WithLabelValues(tenant).Add(float64(n))
}

// JobsPublished counts jobs stored by the stream.
func JobsPublished(tenant, stage string, n int) {
	jobsPublished.WithLabelValues(tenant, stage).Add(float64(n))
}

// ExpansionStarted marks an expansion running; call the func it returns when
// it stops, saying whether it reached the audience's last page.
func ExpansionStarted(tenant string) (stopped func(finished bool)) {
	expanding.Inc()
	return func(finished bool) {
		expanding.Dec()
		if finished {
			expansionsDone.WithLabelValues(tenant).Inc()
		}
	}
}
