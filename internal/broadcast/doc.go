// Package broadcast holds the domain of the product: a broadcast (a message
// and its audience, sent in one tenant), the request that creates one and its
// validation, the job that carries one recipient through the pipeline, and the
// states a recipient moves through.
//
// Nothing here talks to NATS, Redis or Microsoft: the package is the shared
// vocabulary of the dispatcher, the installer and the sender.
package broadcast
