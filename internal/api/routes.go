package api

import (
	"net/http"
	"slices"
	"strings"
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

// unrouted answers a request that no route serves, once its key is
// checked, so that a caller without one learns nothing of the routes (a
// 401, never a 404 or a 405): the mux's plain-text 404 and 405 become the
// API's JSON errors, the 405 with its Allow header.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r, "unrouted"); !ok {
		return
	}
	s.mux.ServeHTTP(&muxErrors{ResponseWriter: w, r: r}, r)
}

// muxErrors writes the ServeMux's 404 and 405 as JSON errors, dropping
// the text the mux writes after them.
type muxErrors struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (m *muxErrors) WriteHeader(code int) {
	what := m.r.Method + " " + clipName(m.r.URL.Path)
	switch code {
	case http.StatusNotFound:
		writeError(m.ResponseWriter, code, "not_found", "no route "+what, nil)
	case http.StatusMethodNotAllowed:
		allow := m.Header().Get("Allow")
		writeError(m.ResponseWriter, code, "method_not_allowed", "no route "+what+": this path takes "+strings.ReplaceAll(allow, ", ", " or "), nil)
	default:
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.replaced = true
}

func (m *muxErrors) Write(p []byte) (int, error) {
	if m.replaced {
		return len(p), nil
	}
	return m.ResponseWriter.Write(p)
}
