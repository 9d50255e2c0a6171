package api

import "net/http"

// OnExportPage sets a function called after each page an export has
// written and flushed.
func OnExportPage(s *Server, f func(page int)) { s.exportPageDone = f }

// HandleForTest registers a route on s as New does.
func HandleForTest(s *Server, pattern string) {
	s.mux.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
}

// PolicyPatterns are the routes the policy table lists.
func PolicyPatterns() []string {
	out := make([]string, 0, len(policy))
	for p := range policy {
		out = append(out, p)
	}
	return out
}
