package teams

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"time"
)

// Guard decides, as late as possible before a request is written, when it
// may leave, and is told when it was written. A rate limiter's slot
// (ratelimit.Ticket) is one: a request that waited for its connection
// while another got a 429 waits out the pause and takes a new slot.
type Guard interface {
	// Hold returns once the request may be written, or with an error if
	// it must not be written at all.
	Hold(ctx context.Context) error
	// Wrote is called once the request is written.
	Wrote()
	// Throttled is called on a 429, before its connection is handed to
	// another request, with its Retry-After (0 if none).
	Throttled(retryAfter time.Duration)
}

type guardKey struct{}

// WithGuard returns a context whose Connector requests are checked by g
// right before they are written.
func WithGuard(ctx context.Context, g Guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// guard has the context's guard asked when the request has its connection:
// net/http writes the request right after (httptrace's GotConn runs on the
// caller's goroutine, before the write), and a retry of the transport on
// another connection asks again. If the guard refuses, the request must
// not go out: an HTTP/1 connection is closed under it, so the write fails
// and the request reaches nobody. An HTTP/2 connection carries other
// requests and is left alone: that request leaves (ctx has ended by then,
// the only way a ratelimit.Ticket refuses, so it is cancelled at once).
func guard(ctx context.Context, req *http.Request) *http.Request {
	g, ok := ctx.Value(guardKey{}).(Guard)
	if !ok {
		return req
	}
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if err := g.Hold(ctx); err != nil && !multiplexed(info) {
				_ = info.Conn.Close()
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				g.Wrote()
			}
		},
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
}

// throttled tells the context's guard of a 429.
func throttled(ctx context.Context, h http.Header) {
	if g, ok := ctx.Value(guardKey{}).(Guard); ok {
		g.Throttled(ParseRetryAfter(h.Get("Retry-After")))
	}
}

func multiplexed(info httptrace.GotConnInfo) bool {
	tc, ok := info.Conn.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}
