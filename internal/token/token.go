// Package token gets OAuth2 access tokens from Microsoft Entra ID (Azure AD)
// with the client-credentials grant, for the Bot Connector and for Graph.
//
// A Source caches its token and fetches a new one shortly before the old one
// expires. Concurrent callers share a single fetch, so a burst of senders at
// the moment of expiry causes one request to the login endpoint, not one per
// goroutine. After a 401 from the API the caller calls Invalidate with the
// token it used, so that the next Token fetches a fresh one.
//
// Neither the client secret nor a token ever appears in an error.
package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scopes and the tenant of the Bot Connector token.
const (
	ScopeConnector  = "https://api.botframework.com/.default"
	ScopeGraph      = "https://graph.microsoft.com/.default"
	ConnectorTenant = "botframework.com"
)

const (
	maxAttempts  = 3
	backoffBase  = 200 * time.Millisecond
	backoffCap   = 2 * time.Second
	fetchTimeout = time.Minute      // bounds a shared fetch that no single caller owns
	maxEarly     = 5 * time.Minute  // refresh at most this long before expiry
	maxBody      = 1 << 20          // bytes of a token answer read
	drainBody    = 64 << 10         // bytes drained so the connection can be reused
	defaultHTTP  = 30 * time.Second // timeout of the client used when Config.HTTP is nil
)

// Config describes where and how to get tokens.
type Config struct {
	LoginURL     string // e.g. https://login.microsoftonline.com
	Tenant       string // tenant id, or ConnectorTenant for the Bot Connector
	ClientID     string
	ClientSecret string
	Scope        string
	// HTTP makes the requests; its Timeout should be set. Nil means a
	// client with a 30 s timeout.
	HTTP *http.Client
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// Error is a refusal by the token endpoint, such as invalid_client.
type Error struct {
	Status      int
	Code        string // the OAuth2 "error", e.g. invalid_client
	Description string // the first line of "error_description", secret removed
}

func (e *Error) Error() string {
	s := fmt.Sprintf("token: %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Source hands out cached tokens. It is safe for concurrent use.
type Source struct {
	cfg      Config
	endpoint string

	mu        sync.Mutex
	token     string
	expiry    time.Time
	refreshAt time.Time
	inflight  *fetch
}

// fetch is one request for a token that several callers may wait for.
type fetch struct {
	done  chan struct{}
	token string
	err   error
}

// NewSource validates cfg and returns a Source.
func NewSource(cfg Config) (*Source, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"LoginURL", cfg.LoginURL}, {"Tenant", cfg.Tenant}, {"ClientID", cfg.ClientID},
		{"ClientSecret", cfg.ClientSecret}, {"Scope", cfg.Scope},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("token: config: %s must be set", strings.Join(missing, ", "))
	}
	u, err := url.Parse(cfg.LoginURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("token: config: LoginURL %q is not an absolute http(s) URL", cfg.LoginURL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: defaultHTTP}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	endpoint := strings.TrimRight(cfg.LoginURL, "/") + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0/token"
	return &Source{cfg: cfg, endpoint: endpoint}, nil
}

// Token returns a valid token, fetching one if the cached token is missing
// or close to its expiry. A failed fetch is an error: an old token is never
// handed out once its refresh is due.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.token != "" && s.cfg.Now().Before(s.refreshAt) {
		tok := s.token
		s.mu.Unlock()
		return tok, nil
	}
	f := s.inflight
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		s.inflight = f
		// The fetch is shared, so it must not die with the context of the
		// caller that happened to start it; it keeps the values only and is
		// bounded by its own timeout.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		go func() {
			defer cancel()
			s.run(fctx, f)
		}()
	}
	s.mu.Unlock()

	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("token: wait for token: %w", ctx.Err())
	}
}

// run performs the fetch f and publishes its result.
func (s *Source) run(ctx context.Context, f *fetch) {
	start := s.cfg.Now()
	tok, lifetime, err := s.fetchWithRetry(ctx)

	s.mu.Lock()
	s.inflight = nil
	if err == nil {
		s.token = tok
		s.expiry = start.Add(lifetime)
		s.refreshAt = s.expiry.Add(-min(maxEarly, lifetime/10))
	}
	s.mu.Unlock()

	f.token, f.err = tok, err
	close(f.done)
}

// Invalidate forgets the cached token if it is still tok, typically after
// the API answered 401 to it. A token fetched since is kept.
func (s *Source) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok != "" && s.token == tok {
		s.token = ""
		s.expiry, s.refreshAt = time.Time{}, time.Time{}
	}
}

// fetchWithRetry tries up to maxAttempts times on network errors, 429 and
// 5xx, with exponential backoff and full jitter.
func (s *Source) fetchWithRetry(ctx context.Context) (string, time.Duration, error) {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			d := rand.N(min(backoffCap, backoffBase<<attempt))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", 0, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		var tok string
		var lifetime time.Duration
		tok, lifetime, err = s.fetchOnce(ctx)
		if err == nil {
			return tok, lifetime, nil
		}
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return "", 0, err
}

func retryable(err error) bool {
	var te *Error
	if errors.As(err, &te) {
		return te.Status == http.StatusTooManyRequests || te.Status >= 500
	}
	var bad *badAnswerError
	return !errors.As(err, &bad) // network errors and timeouts
}

// badAnswerError is a 2xx answer that carries no usable token.
type badAnswerError struct{ msg string }

func (e *badAnswerError) Error() string { return "token: " + e.msg }

type answer struct {
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"` // a number, or a string in older endpoints
	AccessToken string      `json:"access_token"`
	Error       string      `json:"error"`
	Description string      `json:"error_description"`
}

func (s *Source) fetchOnce(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret},
		"scope":         {s.cfg.Scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("token: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		// *url.Error names the endpoint, never the form body.
		return "", 0, fmt.Errorf("token: request for tenant %s: %w", s.cfg.Tenant, err)
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainBody)
	_ = resp.Body.Close()
	if readErr != nil {
		return "", 0, fmt.Errorf("token: read answer for tenant %s: %w", s.cfg.Tenant, readErr)
	}

	var a answer
	jsonErr := json.Unmarshal(body, &a)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode}
		if jsonErr == nil {
			e.Code = a.Error
			e.Description = s.scrub(a.Description)
		}
		return "", 0, e
	}
	if jsonErr != nil {
		return "", 0, &badAnswerError{msg: fmt.Sprintf("%d answer is not JSON", resp.StatusCode)}
	}
	if a.AccessToken == "" {
		return "", 0, &badAnswerError{msg: "answer has no access_token"}
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "Bearer") {
		return "", 0, &badAnswerError{msg: fmt.Sprintf("token_type %q is not Bearer", a.TokenType)}
	}
	secs, err := strconv.ParseFloat(a.ExpiresIn.String(), 64)
	if err != nil || secs <= 0 || secs > 1e7 {
		return "", 0, &badAnswerError{msg: fmt.Sprintf("expires_in %q is not a positive number of seconds", a.ExpiresIn.String())}
	}
	return a.AccessToken, time.Duration(secs * float64(time.Second)), nil
}

// scrub keeps the first line of an AAD error description (the rest is trace
// and correlation ids), bounds it and removes the secret should the
// endpoint ever echo it.
func (s *Source) scrub(desc string) string {
	desc, _, _ = strings.Cut(desc, "\n")
	desc = strings.TrimSpace(strings.ReplaceAll(desc, s.cfg.ClientSecret, "[redacted]"))
	if len(desc) > 300 {
		desc = desc[:300] + "..."
	}
	return desc
}
