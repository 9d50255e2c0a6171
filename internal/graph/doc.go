// Package graph is a client of the parts of Microsoft Graph that a
// broadcast needs: listing a tenant's users a page at a time, and installing
// the bot for a user (find the app in the catalog, install it, find the
// installation and its 1:1 chat, whose id is a Connector conversation id).
//
// A Client paces its requests itself, because Graph's limits are per app per
// tenant: installedApps GETs and POSTs each have their own token bucket
// (Graph documents about 30 requests per second for each), and directory and
// catalog reads share a ten times larger one. When Graph answers 429, every
// request of the client waits until Retry-After has passed, not only the one
// that was refused. Within those bounds the client retries what may pass
// (429, 5xx, timeouts, a 401 once with a new token) and returns the rest at
// once as an *Error.
//
// Tenants hands out one Client, with its own token, limiters and pause, per
// tenant.
package graph
