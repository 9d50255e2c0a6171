// Package queue carries jobs on NATS JetStream: the JOBS work-queue stream,
// publishing with message ids that deduplicate republishes, a consumer per
// broadcast and stage, and the Scheduler that takes each tenant's jobs from
// those consumers when the tenant can take them, shares them between the
// tenant's broadcasts by priority, runs a handler per job with bounded
// concurrency per tenant, heartbeats each job while its handler runs (so a
// short AckWait redelivers only a dead worker's jobs), and turns the
// handler's result into ack, delayed redelivery, termination or a dead
// letter (settle.go): a job that panicked, or failed MaxFailures times, is
// recorded through the stage's DeadLetter and terminated, never redelivered
// for ever.
//
// Stream JOBS (WorkQueue retention, file storage; JOBS_<ns> with subjects
// under <ns>.bcast in a namespace):
//
//	bcast.install.<tenant>.<broadcast>   consumer "install-<broadcast>"
//	bcast.send.<tenant>.<broadcast>      consumer "send-<broadcast>"
package queue
