package teamsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Graph JSON batching: POST /graph/v1.0/$batch with up to 20 requests,
// each served as if made on its own (its own status, throttling and
// ledger count), answered together without the per-request latency.

const maxBatchRequests = 20

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchKey struct{}

// inBatch reports whether r is a request of a batch (no latency of its own).
func inBatch(r *http.Request) bool { return r.Context().Value(batchKey{}) != nil }

func (s *Sim) handleBatch(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphBatch)
	if _, ok := s.graphAuth(w, r); !ok {
		return
	}
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: "+err.Error())
		return
	}
	if len(in.Requests) == 0 || len(in.Requests) > maxBatchRequests {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("The batch has %d requests: it must have between 1 and %d.", len(in.Requests), maxBatchRequests))
		return
	}
	seen := make(map[string]bool, len(in.Requests))
	for _, q := range in.Requests {
		if q.ID == "" || seen[q.ID] {
			s.graphFail(w, r, http.StatusBadRequest, "BadRequest", "Every request of a batch needs an id of its own.")
			return
		}
		seen[q.ID] = true
		if !strings.HasPrefix(q.URL, "/") || strings.HasPrefix(q.URL, "//") {
			s.graphFail(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request %s: the url must be relative to the version root, such as /users/{id}.", q.ID))
			return
		}
	}
	ctx := context.WithValue(r.Context(), batchKey{}, true)
	out := struct {
		Responses []batchResponse `json:"responses"`
	}{Responses: make([]batchResponse, 0, len(in.Requests))}
	for _, q := range in.Requests {
		method := strings.ToUpper(q.Method)
		if method != http.MethodGet {
			out.Responses = append(out.Responses, batchResponse{ID: q.ID, Status: http.StatusBadRequest,
				Body: json.RawMessage(`{"error":{"code":"BadRequest","message":"The simulator batches GET requests only."}}`)})
			continue
		}
		inner, err := http.NewRequestWithContext(ctx, method, "http://"+r.Host+"/graph/v1.0"+q.URL, nil)
		if err != nil {
			out.Responses = append(out.Responses, batchResponse{ID: q.ID, Status: http.StatusBadRequest,
				Body: json.RawMessage(`{"error":{"code":"BadRequest","message":"Invalid request URL."}}`)})
			continue
		}
		inner.Host = r.Host
		inner.TLS = r.TLS
		inner.Header.Set("Authorization", r.Header.Get("Authorization"))
		for k, v := range q.Headers {
			inner.Header.Set(k, v)
		}
		rec := &recorder{header: http.Header{}}
		s.mux.ServeHTTP(rec, inner)
		resp := batchResponse{ID: q.ID, Status: rec.status, Headers: map[string]string{}}
		for _, h := range []string{"Content-Type", "Retry-After"} {
			if v := rec.header.Get(h); v != "" {
				resp.Headers[h] = v
			}
		}
		if b := bytes.TrimSpace(rec.body.Bytes()); len(b) > 0 && json.Valid(b) {
			resp.Body = b
		}
		out.Responses = append(out.Responses, resp)
	}
	s.graphJSON(w, r, http.StatusOK, out)
}

// recorder is the http.ResponseWriter of a batch's inner request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
