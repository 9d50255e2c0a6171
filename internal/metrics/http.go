package metrics

import (
	"net/http"
	"strconv"
	"time"
)

var (
	apiRequests = factory.counter("api_requests_total",
		"API requests by route pattern (such as \"GET /v1/broadcasts/{id}\"; unmatched for none) and status code.", "route", "code")
	apiLatency = factory.histogram("api_request_duration_seconds",
		"Duration of API requests by route pattern.", callBuckets, "route")
)

// InstrumentHTTP counts the requests h serves and observes their duration,
// labelled by the route pattern that matched (r.Pattern, set by the
// http.ServeMux inside h), never by the raw path: ids in paths would make a
// series per broadcast. route finds the pattern when h's mux worked on a
// copy of the request (a middleware's WithContext); it may be nil.
func InstrumentHTTP(h http.Handler, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		h.ServeHTTP(sw, r)
		pattern := r.Pattern
		if pattern == "" && route != nil {
			pattern = route(r)
		}
		if pattern == "" {
			pattern = "unmatched"
		}
		apiRequests.WithLabelValues(pattern, strconv.Itoa(sw.Status())).Inc()
		apiLatency.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// StatusWriter remembers the status a handler answered (the API's audit
// log records it too).
type StatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush and
// deadlines (the CSV export flushes each page).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes a writer that can, for handlers that assert http.Flusher.
func (w *StatusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter { return &StatusWriter{ResponseWriter: w} }

// Status is the status answered: 200 when the handler wrote nothing.
func (w *StatusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
