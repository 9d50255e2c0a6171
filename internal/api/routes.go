package api

import (
	"net/http"
	"slices"
)

// routeMux is the server's ServeMux, remembering the patterns registered
// on it, so that the API's description (api/openapi.yaml) can be checked
// against the routes that exist.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
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
