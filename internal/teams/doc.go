// Package teams is a client of the Bot Framework Connector as Microsoft
// Teams runs it: create a 1:1 conversation with a user, send, update and
// delete a message.
//
// Each call makes exactly one request; the client never retries. What to do
// with an answer is decided in one place, Classify, which maps the
// Connector's documented statuses and error codes to an Outcome (retry,
// wait for Retry-After, record the user as blocked, reinstall, give up).
// The caller owns the retry policy, the rate limit and the pause after a
// 429, because those are shared by all the goroutines and processes sending
// to a tenant.
//
// The only state the client touches is the token: on a 401 it invalidates
// the token it used, so that the caller's single retry gets a fresh one.
package teams
