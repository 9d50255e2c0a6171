package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// maxBalancedBody bounds the request body the balancer holds to retry it on
// another dispatcher (the API's own bound on a CSV upload is smaller).
const maxBalancedBody = 64 << 20

// balancer stands where a deployment's load balancer stands in front of
// several dispatchers: one address for the API, the bot endpoint or the
// console, each request to the next dispatcher in turn. A dispatcher that
// refuses the connection (killed, not yet listening again) is passed over
// for the next: nothing of the request reached it, so trying another
// cannot make it happen twice. An error after the request was sent is the
// client's, as it would be behind a real load balancer.
//
// The dispatchers listen on ports of their own choosing (:0) and log them;
// the backends are looked up again (resolve) when every known one refuses,
// as a restarted dispatcher listens on a new port.
type balancer struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// startBalancer listens on addr and spreads requests over the backends
// resolve names (host:port each).
func startBalancer(addr string, resolve func() []string) (*balancer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL.Scheme = "http"; r.SetXForwarded() },
		Transport: &failover{resolve: resolve, rt: t},
		// Server-sent events (the console's live progress) pass at once.
		FlushInterval: -1,
	}
	b := &balancer{
		srv:  &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ln)
	}()
	return b, nil
}

// Close stops the balancer: it waits up to 5 s for requests in flight (the
// console's event streams are cut).
func (b *balancer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if b.srv.Shutdown(ctx) != nil {
		_ = b.srv.Close()
	}
	<-b.done
}

// failover sends a request to the next backend in turn, and to the one
// after when the connection is refused.
type failover struct {
	resolve func() []string
	rt      http.RoundTripper
	next    atomic.Uint32

	mu       sync.Mutex
	backends []string // as last resolved
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	// The transport closes a body even when the dial fails: keep it to
	// send again.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxBalancedBody+1))
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > maxBalancedBody {
			return nil, fmt.Errorf("request body over %d bytes", maxBalancedBody)
		}
	}
	first := int(f.next.Add(1))
	err := errors.New("no dispatcher is listening yet")
	for pass := range 2 {
		backends := f.known(pass == 1)
		for i := range backends {
			out := req.Clone(req.Context())
			out.URL.Host = backends[(first+i)%len(backends)]
			out.Host = out.URL.Host
			if body != nil {
				out.Body = io.NopCloser(bytes.NewReader(body))
				out.ContentLength = int64(len(body))
			}
			var resp *http.Response
			if resp, err = f.rt.RoundTrip(out); err == nil {
				return resp, nil
			}
			if !refused(err) {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("every dispatcher refused the connection: %w", err)
}

// known returns the backends as last resolved, resolving them again when
// asked to or when none is known.
func (f *failover) known(again bool) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if again || len(f.backends) == 0 {
		f.backends = f.resolve()
	}
	return f.backends
}

// refused reports whether err is a failure to connect, before anything of
// the request was written.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
