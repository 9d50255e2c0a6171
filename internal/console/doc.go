// Package console is the comms team's web console, served by the
// dispatcher on its own listener (CONSOLE_ADDR): the broadcasts and their
// filters, a broadcast's page with live progress (server-sent events) and
// its recipients, cancel behind a confirmation, approvals (the
// broadcasts waiting for one, approve or reject on a broadcast's page,
// approval.go), the unreachable users and the audit log (admins).
//
// People sign in with Microsoft Entra ID: OpenID Connect authorization
// code with PKCE (oidc.go); the roles claim of the ID token maps to the
// API's roles. A session lives in Redis (session.go) behind an HttpOnly,
// Secure, SameSite=Lax cookie; every state-changing request carries the
// session's CSRF token and passes net/http's cross-origin check
// (csrf.go).
//
// The console holds no business logic: every read and every action is a
// call of the API in the same process, as the signed-in user
// (api.Server.ServeAs, apicall.go). The API's policy table decides who may
// do what, its validation names the field at fault, and its audit log
// records console actions as it records API calls, with the user's name
// as the actor.
//
// Pages are html/template, rendered on the server; the CSS, htmx (vendored,
// pinned, with its licence) and a small script for the live progress are
// embedded in the binary (assets.go). Every page works without script.
package console
