package token_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/token"
)

const secret = "s3cr3t-Value~xyz"

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// aad is a token endpoint. Each successful answer carries a new token.
type aad struct {
	t         *testing.T
	expiresIn int
	calls     atomic.Int32
	// answer, when set, decides the status and body of the n-th call (from 1).
	answer func(n int32) (int, string)
	// gate, when set, is waited on before answering; entered is signalled first.
	gate    chan struct{}
	entered chan struct{}
}

func (a *aad) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/tenant-1/oauth2/v2.0/token" {
		a.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	}
	if err := r.ParseForm(); err != nil {
		a.t.Errorf("parse form: %v", err)
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != "app-1" ||
		r.PostForm.Get("client_secret") != secret || r.PostForm.Get("scope") != token.ScopeGraph {
		a.t.Errorf("unexpected form %v", r.PostForm)
	}
	if a.entered != nil {
		a.entered <- struct{}{}
	}
	if a.gate != nil {
		<-a.gate
	}
	status, body := http.StatusOK, fmt.Sprintf(`{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":"tok-%d"}`, a.expiresIn, a.expiresIn, n)
	if a.answer != nil {
		if s, b := a.answer(n); s != 0 {
			status, body = s, b
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func setup(t *testing.T, a *aad) (*token.Source, *clock) {
	t.Helper()
	a.t = t
	if a.expiresIn == 0 {
		a.expiresIn = 3599
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	clk := &clock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	s, err := token.NewSource(token.Config{LoginURL: srv.URL + "/", Tenant: "tenant-1", ClientID: "app-1", ClientSecret: secret,
		Scope: token.ScopeGraph, HTTP: &http.Client{Timeout: 5 * time.Second}, Now: clk.Now})
	require.NoError(t, err)
	return s, clk
}

func TestNewSourceValidates(t *testing.T) {
	t.Parallel()
	ok := token.Config{LoginURL: "https://login.microsoftonline.com", Tenant: "t", ClientID: "c", ClientSecret: secret, Scope: token.ScopeGraph}
	tests := []struct {
		name   string
		mutate func(*token.Config)
		want   string
	}{
		{"login url", func(c *token.Config) { c.LoginURL = "" }, "LoginURL"},
		{"relative login url", func(c *token.Config) { c.LoginURL = "login.microsoftonline.com" }, "LoginURL"},
		{"tenant", func(c *token.Config) { c.Tenant = " " }, "Tenant"},
		{"client id", func(c *token.Config) { c.ClientID = "" }, "ClientID"},
		{"secret", func(c *token.Config) { c.ClientSecret = "" }, "ClientSecret"},
		{"scope", func(c *token.Config) { c.Scope = "" }, "Scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tt.mutate(&cfg)
			_, err := token.NewSource(cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := token.NewSource(ok)
	require.NoError(t, err)
}

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn int
		// The token is refreshed min(5 min, 10% of the lifetime) before expiry.
		stillCached, refreshed time.Duration
	}{
		{"one hour: five minutes early", 3600, 54*time.Minute + 59*time.Second, 55*time.Minute + time.Second},
		{"ten minutes: ten percent early", 600, 539 * time.Second, 541 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &aad{expiresIn: tt.expiresIn}
			s, clk := setup(t, a)
			ctx := context.Background()

			tok, err := s.Token(ctx)
			require.NoError(t, err)
			require.Equal(t, "tok-1", tok)

			clk.Add(tt.stillCached)
			tok, err = s.Token(ctx)
			require.NoError(t, err)
			require.Equal(t, "tok-1", tok)
			require.EqualValues(t, 1, a.calls.Load())

			clk.Add(tt.refreshed - tt.stillCached)
			tok, err = s.Token(ctx)
			require.NoError(t, err)
			require.Equal(t, "tok-2", tok)
			require.EqualValues(t, 2, a.calls.Load())
		})
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	t.Parallel()
	a := &aad{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	s, _ := setup(t, a)

	const callers = 50
	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = s.Token(context.Background()) })
	}
	<-a.entered // one fetch is on the wire; everyone else waits for it or finds its result
	close(a.gate)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		require.Equal(t, "tok-1", got[i])
	}
	require.EqualValues(t, 1, a.calls.Load())
}

func TestCallerCancelDoesNotFailSharedFetch(t *testing.T) {
	t.Parallel()
	a := &aad{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	s, _ := setup(t, a)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := s.Token(ctx); first <- err }()
	<-a.entered
	second := make(chan string, 1)
	go func() { tok, _ := s.Token(context.Background()); second <- tok }()
	cancel()
	require.ErrorIs(t, <-first, context.Canceled)
	close(a.gate)
	require.Equal(t, "tok-1", <-second)
	require.EqualValues(t, 1, a.calls.Load())
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	a := &aad{}
	s, _ := setup(t, a)
	ctx := context.Background()

	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)

	s.Invalidate("some-older-token") // not the cached one: kept
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)

	s.Invalidate("tok-1")
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)

	s.Invalidate("tok-1") // a second 401 for the old token must not drop the new one
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)
	require.EqualValues(t, 2, a.calls.Load())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	invalidClient := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided (` + secret + `).\r\nTrace ID: 0000\r\nCorrelation ID: 1111","error_codes":[7000215]}`
	tests := []struct {
		name      string
		answer    func(n int32) (int, string)
		wantCalls int32
		wantToken string
		wantErr   []string
		wantAs    *token.Error
	}{
		{
			name:      "invalid client: no retry, status and code, no secret",
			answer:    func(int32) (int, string) { return http.StatusUnauthorized, invalidClient },
			wantCalls: 1,
			wantErr:   []string{"401", "invalid_client", "AADSTS7000215"},
			wantAs:    &token.Error{Status: 401, Code: "invalid_client"},
		},
		{
			name: "5xx then success",
			answer: func(n int32) (int, string) {
				if n < 3 {
					return http.StatusServiceUnavailable, "{}"
				}
				return 0, "" // the default: a token
			},
			wantCalls: 3,
			wantToken: "tok-3",
		},
		{
			name:      "5xx three times: gives up",
			answer:    func(int32) (int, string) { return http.StatusBadGateway, "<html>bad gateway</html>" },
			wantCalls: 3,
			wantErr:   []string{"502"},
			wantAs:    &token.Error{Status: 502},
		},
		{
			name:      "200 without a token",
			answer:    func(int32) (int, string) { return http.StatusOK, `{"token_type":"Bearer","expires_in":3599}` },
			wantCalls: 1,
			wantErr:   []string{"access_token"},
		},
		{
			name: "expires_in as a string is accepted",
			answer: func(int32) (int, string) {
				return http.StatusOK, `{"token_type":"Bearer","expires_in":"3599","access_token":"str"}`
			},
			wantCalls: 1,
			wantToken: "str",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &aad{answer: tt.answer}
			s, _ := setup(t, a)
			tok, err := s.Token(context.Background())
			require.Equal(t, tt.wantCalls, a.calls.Load())
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.wantToken, tok)
				return
			}
			require.Error(t, err)
			require.Empty(t, tok)
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, err.Error(), "Trace ID")
			for _, w := range tt.wantErr {
				require.Contains(t, err.Error(), w)
			}
			if tt.wantAs != nil {
				var te *token.Error
				require.ErrorAs(t, err, &te)
				require.Equal(t, tt.wantAs.Status, te.Status)
				require.Equal(t, tt.wantAs.Code, te.Code)
			}
		})
	}
}

func TestFailedRefreshIsAnError(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	a := &aad{answer: func(int32) (int, string) {
		if failing.Load() {
			return http.StatusServiceUnavailable, "{}"
		}
		return 0, ""
	}}
	s, clk := setup(t, a)
	tok, err := s.Token(context.Background())
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)

	failing.Store(true)
	for _, advance := range []time.Duration{56 * time.Minute, time.Hour} { // refresh due; then expired
		clk.Add(advance)
		tok, err = s.Token(context.Background())
		require.Error(t, err)
		require.Empty(t, tok)
	}

	failing.Store(false)
	tok, err = s.Token(context.Background())
	require.NoError(t, err)
	require.NotEqual(t, "tok-1", tok)
}

func TestRetriesBoundedByContext(t *testing.T) {
	t.Parallel()
	a := &aad{answer: func(int32) (int, string) { return http.StatusInternalServerError, "{}" }}
	s, _ := setup(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := s.Token(ctx)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)
}
