package teamsim

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Timing of the simulated services (Graph and the Connector; not the token
// endpoint nor the control endpoints). A request first waits a one-way
// network delay, uniform [0, NetworkJitter), and is judged by the rate
// limits when it ends, so the windows count requests in the order they
// arrive, not the order they were sent. Its answer then waits Latency plus
// a uniform [0, LatencyJitter), drawn on arrival, so when the request is
// judged the simulator knows when the answer will leave: a 429 leaves then,
// and a request that reaches the scope it blocked more than
// RetryAfterTolerance later is a Retry-After violation.

// The realistic profile, Teams-like: answers in 100 ms ±50% (50 ms plus up
// to 100 ms), a few milliseconds of one-way jitter, the 1:1 chat ready 2 to
// 4 s after an install. Config's zero value has none of it (fast unit tests);
// Config.Realistic sets it, and cmd/teamsim and internal/demo default to it.
const (
	DefaultLatency       = 50 * time.Millisecond
	DefaultLatencyJitter = 100 * time.Millisecond
	DefaultNetworkJitter = 3 * time.Millisecond
	// The chat exists 2 s plus up to 2 s after an install.
	DefaultChatReadyDelay  = 2 * time.Second
	DefaultChatReadyJitter = 2 * time.Second
	// DefaultRetryAfterTolerance is how long after a 429 left the simulator
	// a request to the scope it blocked is still taken to have been in
	// flight, not sent in defiance of its Retry-After.
	DefaultRetryAfterTolerance = 5 * time.Millisecond
)

// Realistic returns c with the realistic timing profile: Latency,
// LatencyJitter, NetworkJitter, ChatReadyDelay and ChatReadyJitter set to
// their Default values.
func (c Config) Realistic() Config {
	c.Latency, c.LatencyJitter, c.NetworkJitter = DefaultLatency, DefaultLatencyJitter, DefaultNetworkJitter
	c.ChatReadyDelay, c.ChatReadyJitter = DefaultChatReadyDelay, DefaultChatReadyJitter
	return c
}

// chatDelay draws how long after an install its chat is ready.
func (s *Sim) chatDelay() time.Duration {
	d := s.cfg.ChatReadyDelay
	if j := s.cfg.ChatReadyJitter; j > 0 {
		d += rand.N(j)
	}
	return d
}

type exchangeKey struct{}

// exchange is the timing of one request to a simulated service. Only the
// request's goroutine touches it.
type exchange struct {
	answer  time.Duration // the answer's latency, drawn on arrival
	judged  bool          // leaveAt and leave are set
	leaveAt time.Duration // when the answer leaves, on the sim's clock
	leave   time.Time     // the same on the wall clock, for the wait
	// blocked are the scopes this exchange's 429 blocked: no request to
	// them is a violation until the answer has left (departed).
	blocked []*limiter
}

// hold notes that this exchange's answer blocked l. Caller holds l.mu.
func (ex *exchange) hold(l *limiter) {
	if ex == nil {
		return
	}
	ex.blocked = append(ex.blocked, l)
	l.leaving++
}

// departed says the answer has left (the handler returned): requests to
// the scopes it blocked are violations from tol after now.
func (ex *exchange) departed(now, tol time.Duration) {
	for _, l := range ex.blocked {
		l.mu.Lock()
		l.leaving--
		l.graceUntil = max(l.graceUntil, now+tol)
		l.mu.Unlock()
	}
	ex.blocked = nil
}

// serve applies the network delay to a request for Graph or the Connector
// and draws its answer's latency, then routes it.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/graph/") || strings.HasPrefix(p, "/connector/") {
		if j := s.cfg.NetworkJitter; j > 0 {
			sleep(r.Context(), rand.N(j))
		}
		ex := &exchange{answer: time.Duration(s.latency.Load())}
		if j := time.Duration(s.jitter.Load()); j > 0 {
			ex.answer += rand.N(j)
		}
		r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
		// The answer leaves when the handler returns (net/http flushes it
		// then), however late this loaded process is in writing it.
		defer func() { ex.departed(s.clock(), s.cfg.RetryAfterTolerance) }()
	}
	s.mux.ServeHTTP(w, r)
}

func exchangeOf(r *http.Request) *exchange {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return ex
}

// graceAt is how long after now a request to a scope this exchange's 429
// blocks is not a violation: until the answer leaves, plus tol. The first
// judgement of the exchange fixes when its answer leaves (a batch judges
// several requests and answers once). A nil exchange answers at once.
func (ex *exchange) graceAt(now, tol time.Duration) time.Duration {
	if ex == nil {
		return tol
	}
	if !ex.judged {
		ex.judged, ex.leaveAt, ex.leave = true, now+ex.answer, time.Now().Add(ex.answer)
	}
	return max(ex.leaveAt-now, 0) + tol
}

// delay holds the answer until it is due to leave, or until the client
// goes away.
func (s *Sim) delay(r *http.Request) {
	ex := exchangeOf(r)
	if ex == nil {
		return
	}
	d := ex.answer
	if ex.judged {
		d = time.Until(ex.leave)
	}
	sleep(r.Context(), d)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
