package api

import (
	"context"
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/auth"
)

// signedInKey carries a principal that a front end in the same process
// (the console) authenticated itself. Its type is unexported, so no
// request from the network can carry one: only ServeAs sets it.
type signedInKey struct{}

// ServeAs serves r as p, without an API key: the console signs its users
// in (OpenID Connect) and calls the API in-process on their behalf, so
// both go through the same policy table, validation, errors and audit
// log. p must have a valid role and a name (the actor the audit log and a
// broadcast's createdBy record).
func (s *Server) ServeAs(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if !p.Role.Valid() || p.Name == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no signed-in user with a role", nil)
		return
	}
	s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), signedInKey{}, p)))
}

// signedIn returns the principal ServeAs set on r, if any.
func signedIn(r *http.Request) (auth.Principal, bool) {
	p, ok := r.Context().Value(signedInKey{}).(auth.Principal)
	return p, ok
}
