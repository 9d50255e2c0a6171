package graph

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/retry"
)

const (
	defaultRPS        = 30 // Graph's installedApps limits per app per tenant, per kind
	directoryFactor   = 10 // users listing and catalog reads are limited far higher
	defaultMaxRetries = 5
	backoffBase       = 200 * time.Millisecond
	backoffCap        = 10 * time.Second
	maxBody           = 8 << 20  // a page of 999 users is a few hundred KB
	drainBody         = 64 << 10 // bytes drained so the connection can be reused
	defaultHTTP       = 30 * time.Second
	// paceMargin: the Connector's gates measure how late their requests
	// leave (ratelimit); this client paces one process and takes the
	// bound they use, 97% of the limit.
	paceMargin = 30 * time.Millisecond
)

// TokenSource hands out Graph tokens; *token.Source is one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

// Config describes a Client.
type Config struct {
	BaseURL string // e.g. https://graph.microsoft.com/v1.0
	Tokens  TokenSource
	// HTTP makes the requests; its Timeout should be set. Nil means a client
	// with a 30 s timeout.
	HTTP *http.Client
	// RPS is the rate of installedApps GETs, and separately of installedApps
	// POSTs; users listing and catalog reads get ten times as much.
	// 0 means 30.
	RPS float64
	// MaxRetries bounds the retries of one call (429, 5xx, network errors);
	// 0 means 5. A 401 is retried once more with a new token.
	MaxRetries int
	Logger     *zap.Logger
}

// kind is a class of request with its own rate limit.
type kind int

const (
	kindDirectory kind = iota // users, catalog
	kindInstallGet
	kindInstallPost
)

// String is the kind's metrics label.
func (k kind) String() string {
	switch k {
	case kindInstallGet:
		return "install_get"
	case kindInstallPost:
		return "install_post"
	default:
		return "directory"
	}
}

// Client calls Graph for one tenant. It is safe for concurrent use; all its
// goroutines share its rate limits and its pause after a 429.
type Client struct {
	base       *url.URL
	baseURL    string // without trailing slash
	tokens     TokenSource
	http       *http.Client
	maxRetries int
	log        *zap.Logger
	limiters   [3]*rate.Limiter // by kind

	mu          sync.Mutex
	pausedUntil time.Time

	catalogMu sync.Mutex
	catalog   map[string]string // manifest id -> catalog app id
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("graph: config: BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Tokens == nil {
		return nil, errors.New("graph: config: Tokens must be set")
	}
	if cfg.RPS < 0 || cfg.MaxRetries < 0 {
		return nil, errors.New("graph: config: RPS and MaxRetries must not be negative")
	}
	if cfg.RPS == 0 {
		cfg.RPS = defaultRPS
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: defaultHTTP}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	c := &Client{
		base:       base,
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		tokens:     cfg.Tokens,
		http:       cfg.HTTP,
		maxRetries: cfg.MaxRetries,
		log:        cfg.Logger,
		catalog:    make(map[string]string),
	}
	// Burst 1: requests leave evenly spaced, so no one-second window on
	// Graph's side sees more than the rate; n of them span 1 s plus
	// paceMargin, so that one that leaves a little late does not land in
	// the same second as the n-th after it.
	r := cfg.RPS / (1 + paceMargin.Seconds())
	c.limiters[kindDirectory] = rate.NewLimiter(rate.Limit(r*directoryFactor), 1)
	c.limiters[kindInstallGet] = rate.NewLimiter(rate.Limit(r), 1)
	c.limiters[kindInstallPost] = rate.NewLimiter(rate.Limit(r), 1)
	return c, nil
}

// call is one logical request, retried by do.
type call struct {
	kind   kind
	method string
	url    string
	body   []byte
	header map[string]string // more request headers, such as Prefer
	fields []zap.Field       // what the request is about, for the logs
}

// do makes c, retrying what may pass, and returns the body of the 2xx
// answer. Other answers are *Error.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx, cl.kind); err != nil {
			return nil, err
		}
		body, err := c.once(ctx, cl)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}

		var delay time.Duration
		var ge *Error
		switch {
		case errors.As(err, &ge) && ge.Status == http.StatusUnauthorized:
			if refreshed {
				return nil, err
			}
			refreshed = true // the token was invalidated in once; try once with a new one
			c.log.Warn("graph: 401, retrying with a new token", append(cl.fields, zap.Int("status", ge.Status))...)
			attempt--
			continue
		case ge != nil && ge.Status == http.StatusTooManyRequests:
			wait := ge.RetryAfter
			if wait <= 0 {
				wait = backoff(attempt)
			}
			// Every request of this client waits, not only this one.
			c.pause(wait)
			c.log.Warn("graph: throttled, pausing the client", append(cl.fields,
				zap.Int("status", ge.Status), zap.Duration("retry_after", wait), zap.Int("attempt", attempt+1))...)
		case ge != nil && retryableStatus(ge.Status):
			delay = backoff(attempt)
		case ge == nil && transient(err):
			delay = backoff(attempt)
		default:
			return nil, err
		}
		if attempt >= c.maxRetries {
			return nil, fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
		}
		if delay > 0 {
			status := 0
			if ge != nil {
				status = ge.Status
			}
			c.log.Debug("graph: retrying", append(cl.fields, zap.Int("status", status),
				zap.Duration("delay", delay), zap.Int("attempt", attempt+1), zap.Error(err))...)
			if err := retry.Sleep(ctx, delay); err != nil {
				return nil, err
			}
		}
	}
}

// once makes one request.
func (c *Client) once(ctx context.Context, cl call) ([]byte, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.http.Do(c.guard(ctx, req, cl.kind))
	if err != nil {
		metrics.GraphCall(cl.kind.String(), 0, time.Since(start))
		return nil, err
	}
	metrics.GraphCall(cl.kind.String(), resp.StatusCode, time.Since(start))
	if resp.StatusCode == http.StatusTooManyRequests {
		// Paused before the body is closed: closing it hands the
		// connection to a request waiting for one, which must see the pause.
		if ra := parseRetryAfter(resp.Header.Get("Retry-After")); ra > 0 {
			c.pause(ra)
		}
	}
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainBody)
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusUnauthorized {
			c.tokens.Invalidate(tok)
		}
		return nil, parseError(resp.StatusCode, resp.Header, data)
	}
	if readErr != nil {
		return nil, fmt.Errorf("read %d answer: %w", resp.StatusCode, readErr)
	}
	return data, nil
}

// wait blocks until the request may leave: the kind's rate allows it and
// the client is not paused. The pause is checked again after the limiter so
// that requests held by a pause do not all leave at once when it ends.
func (c *Client) wait(ctx context.Context, k kind) error {
	for {
		if err := c.waitPause(ctx); err != nil {
			return err
		}
		if err := c.limiters[k].Wait(ctx); err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		if c.pauseLeft() <= 0 {
			return nil
		}
	}
}

// guard holds the request back, once it has its connection and right
// before net/http writes it (httptrace's GotConn runs on the caller's
// goroutine), while the client is paused: a 429 that another goroutine
// got while this request fetched its token or dialled. It then waits for
// the kind's rate again, so that the requests held do not leave together.
// If ctx ends first, an HTTP/1 connection is closed under the request so
// that it is never written.
func (c *Client) guard(ctx context.Context, req *http.Request, k kind) *http.Request {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if c.pauseLeft() <= 0 {
			return
		}
		if err := c.wait(ctx, k); err != nil && !multiplexed(info) {
			_ = info.Conn.Close()
		}
	}}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
}

func multiplexed(info httptrace.GotConnInfo) bool {
	tc, ok := info.Conn.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

func (c *Client) waitPause(ctx context.Context) error {
	for {
		d := c.pauseLeft()
		if d <= 0 {
			return nil
		}
		if err := retry.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

func (c *Client) pauseLeft() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Until(c.pausedUntil)
}

// pause makes every request of the client wait d from now. A pause is only
// ever extended, never cut short.
func (c *Client) pause(d time.Duration) {
	until := time.Now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.pausedUntil) {
		c.pausedUntil = until
	}
}

// backoff is the delay after a failed attempt (attempt 0 the first): the
// services' one policy, 200 ms doubling to 10 s, with jitter.
func backoff(attempt int) time.Duration {
	return retry.Policy{Base: backoffBase, Max: backoffCap}.Delay(attempt + 1)
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	return false
}

// transient says whether a request that got no answer may succeed if made
// again: timeouts and broken connections.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// queryEscape escapes an OData expression for a query string: spaces as
// %20 (Graph does not read '+' as a space everywhere), quotes and slashes
// encoded.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// odataString quotes s as an OData string literal.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// checkLink refuses a nextLink or deltaLink that is not an absolute URL
// of the Graph host: the link is followed with the tenant's token.
func (c *Client) checkLink(name, link string) error {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%s is not an absolute URL", name)
	}
	if !c.sameOrigin(u) {
		return fmt.Errorf("refusing %s to %s://%s, not the Graph host %s", name, u.Scheme, u.Host, c.base.Host)
	}
	return nil
}

// sameOrigin says whether u has the scheme and host of the base URL.
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) &&
		strings.EqualFold(u.Hostname(), c.base.Hostname()) && port(u) == port(c.base)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
