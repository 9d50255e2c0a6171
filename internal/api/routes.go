package api

import (
	"net/http"
	"slices"
)

// routeMux is the server's ServeMux, remembering the patterns registered
// on it, so that the API's description (api/openapi.yaml) can be checked
// against the routes that exist. Every route goes through guard with its
// rule from policy; a pattern policy does not list panics, so no route is
// ever served without a decision on who may call it.
type routeMux struct {
	*http.ServeMux
	patterns []string
	guard    func(pattern string, r rule, h http.Handler) http.Handler
}

func newRouteMux(guard func(string, rule, http.Handler) http.Handler) *routeMux {
	return &routeMux{ServeMux: http.NewServeMux(), guard: guard}
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	r, ok := policy[pattern]
	if !ok {
		panic("api: route " + pattern + " has no entry in the policy table (policy.go): say which role may call it")
	}
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, m.guard(pattern, r, h))
}

// Routes returns the patterns the server serves, such as
// "GET /v1/broadcasts/{id}", in the order they were registered.
func (s *Server) Routes() []string { return slices.Clone(s.mux.patterns) }

// Route is the pattern that serves r, such as "GET /v1/broadcasts/{id}",
// or "" when none does: the label of the API's metrics, never the raw path.
func (s *Server) Route(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}
