// Package token gets OAuth2 access tokens from Microsoft Entra ID (Azure AD)
// with the client-credentials grant, for the Bot Connector and for Graph.
//
// The grant itself is golang.org/x/oauth2/clientcredentials. A Source
// caches its token and fetches a new one shortly before the old one
// expires. Concurrent callers share a single fetch (singleflight), so a
// burst of senders at the moment of expiry causes one request to the login
// endpoint, not one per goroutine. After a 401 from the API the caller
// calls Invalidate with the token it used, so that the next Token fetches a
// fresh one.
//
// Neither the client secret nor a token ever appears in an error.
package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/broadcast-dev/broadcast/internal/retry"
)

// Scopes and the tenant of the Bot Connector token.
const (
	ScopeConnector  = "https://api.botframework.com/.default"
	ScopeGraph      = "https://graph.microsoft.com/.default"
	ConnectorTenant = "botframework.com"
)

const (
	fetchTimeout = time.Minute      // bounds a shared fetch that no single caller owns
	maxEarly     = 5 * time.Minute  // refresh at most this long before expiry
	defaultHTTP  = 30 * time.Second // timeout of the client used when Config.HTTP is nil
)

// fetchPolicy retries network errors, 429 and 5xx.
var fetchPolicy = retry.Policy{Base: 200 * time.Millisecond, Max: 2 * time.Second, Attempts: 3}

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
	cfg   Config
	grant clientcredentials.Config
	fetch singleflight.Group

	mu        sync.Mutex
	token     string
	refreshAt time.Time
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
	return &Source{cfg: cfg, grant: clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		TokenURL: endpoint, Scopes: []string{cfg.Scope}, AuthStyle: oauth2.AuthStyleInParams}}, nil
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
	s.mu.Unlock()

	// The fetch is shared, so it must not die with the context of the
	// caller that happened to start it; it keeps the values only and is
	// bounded by its own timeout.
	ch := s.fetch.DoChan("", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return s.fetchAndCache(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("token: wait for token: %w", ctx.Err())
	}
}

// fetchAndCache fetches a token, trying again on network errors, 429 and
// 5xx, and caches it.
func (s *Source) fetchAndCache(ctx context.Context) (string, error) {
	start := s.cfg.Now()
	var tok string
	var lifetime time.Duration
	err := fetchPolicy.Do(ctx, func(ctx context.Context) error {
		var err error
		tok, lifetime, err = s.fetchOnce(ctx)
		if err != nil && !retryable(err) {
			return retry.Permanent(err)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
	expiry := start.Add(lifetime)
	s.refreshAt = expiry.Add(-min(maxEarly, lifetime/10))
	return tok, nil
}

// Invalidate forgets the cached token if it is still tok, typically after
// the API answered 401 to it. A token fetched since is kept.
func (s *Source) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok != "" && s.token == tok {
		s.token = ""
		s.refreshAt = time.Time{}
	}
}

func retryable(err error) bool {
	var te *Error
	if errors.As(err, &te) {
		return te.Status == http.StatusTooManyRequests || te.Status >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue) // network errors and timeouts
}

// badAnswerError is a 2xx answer that carries no usable token.
type badAnswerError struct{ msg string }

func (e *badAnswerError) Error() string { return "token: " + e.msg }

// fetchOnce asks the token endpoint once. oauth2's own errors are not
// returned as they are: a RetrieveError's text carries the whole answer.
func (s *Source) fetchOnce(ctx context.Context) (string, time.Duration, error) {
	t, err := s.grant.Token(context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTP))
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		e := &Error{Code: re.ErrorCode, Description: s.scrub(re.ErrorDescription)}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		return "", 0, e
	case errors.As(err, &ue):
		// *url.Error names the endpoint, never the form body.
		return "", 0, fmt.Errorf("token: request for tenant %s: %w", s.cfg.Tenant, err)
	case err != nil:
		return "", 0, &badAnswerError{msg: strings.TrimPrefix(s.scrub(err.Error()), "oauth2: ")}
	}
	if !strings.EqualFold(t.Type(), "Bearer") {
		return "", 0, &badAnswerError{msg: fmt.Sprintf("token_type %q is not Bearer", t.TokenType)}
	}
	// oauth2 turns expires_in into an expiry on the real clock.
	lifetime := time.Until(t.Expiry).Round(time.Second)
	if t.Expiry.IsZero() || lifetime <= 0 || lifetime > 1e7*time.Second {
		return "", 0, &badAnswerError{msg: "expires_in is not a positive number of seconds"}
	}
	return t.AccessToken, lifetime, nil
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
