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
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		pattern := r.Pattern
		if pattern == "" && route != nil {
			pattern = route(r)
		}
		if pattern == "" {
			pattern = "unmatched"
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		apiRequests.WithLabelValues(pattern, strconv.Itoa(code)).Inc()
		apiLatency.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush and
// deadlines (the CSV export flushes each page).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes a writer that can, for handlers that assert http.Flusher.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
