// Package queue carries jobs on NATS JetStream: the JOBS work-queue stream,
// publishing with message ids that deduplicate republishes, and a Worker that
// pulls from a durable consumer, runs a handler per message with bounded
// concurrency and turns the handler's result into ack, delayed redelivery or
// termination.
//
// Stream JOBS (WorkQueue retention, file storage; JOBS_<ns> with subjects
// under <ns>.bcast in a namespace):
//
//	bcast.install.<tenant>.<broadcast>   consumer "installer"
//	bcast.send.<tenant>.<broadcast>      consumer "sender"
package queue
