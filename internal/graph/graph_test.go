package graph_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/graph"
)

// tokens is a token source; each invalidation makes the next token new.
type tokens struct {
	mu          sync.Mutex
	gen         int
	invalidated []string
}

func (s *tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("secret-token-%d", s.gen), nil
}

func (s *tokens) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, tok)
	s.gen++
}

func (s *tokens) Invalidated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalidated...)
}

// seen is a request as the fake Graph received it.
type seen struct {
	Method, URI, Auth string
	Query             map[string][]string
	Body              string
	At                time.Time
}

// answer is what the fake Graph replies.
type answer struct {
	status int
	header map[string]string
	body   string
}

// fakeGraph answers the n-th request (from 1) with handle and records it.
type fakeGraph struct {
	handle func(n int, r *http.Request) answer

	mu   sync.Mutex
	seen []seen
	// answered holds when each answer was written, by request number.
	answered map[int]time.Time
}

func (g *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.seen = append(g.seen, seen{Method: r.Method, URI: r.RequestURI, Auth: r.Header.Get("Authorization"),
		Query: r.URL.Query(), Body: string(body), At: at})
	n := len(g.seen)
	g.mu.Unlock()

	a := g.handle(n, r)
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)

	g.mu.Lock()
	if g.answered == nil {
		g.answered = make(map[int]time.Time)
	}
	g.answered[n] = time.Now()
	g.mu.Unlock()
}

func (g *fakeGraph) Seen() []seen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seen(nil), g.seen...)
}

func (g *fakeGraph) AnsweredAt(n int) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.answered[n]
}

type bundle struct {
	client *graph.Client
	graph  *fakeGraph
	tokens *tokens
	base   string // BaseURL of the client
	logs   *observer.ObservedLogs
}

type options struct {
	maxRetries int
	rps        float64
	timeout    time.Duration
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
}

func setup(t *testing.T, handle func(n int, r *http.Request) answer, o options) *bundle {
	t.Helper()
	g := &fakeGraph{handle: handle}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	if o.rps == 0 {
		o.rps = 1000 // pacing is tested on its own
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	core, logs := observer.New(zapcore.DebugLevel)
	tok := &tokens{}
	base := srv.URL + "/v1.0"
	hc := &http.Client{Timeout: o.timeout}
	if o.dial != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = o.dial
		// A connection per request: one freed by a 429 without a body goes
		// back to the pool before the client reads the answer, and a
		// request taking it then was in flight with the 429.
		tr.DisableKeepAlives = true
		hc.Transport = tr
	}
	c, err := graph.NewClient(graph.Config{BaseURL: base, Tokens: tok, HTTP: hc,
		RPS: o.rps, MaxRetries: o.maxRetries, Logger: zap.New(core)})
	require.NoError(t, err)
	return &bundle{client: c, graph: g, tokens: tok, base: base, logs: logs}
}

func always(a answer) func(int, *http.Request) answer {
	return func(int, *http.Request) answer { return a }
}

// requireNoSecretsLogged checks that no log entry carries a token.
func requireNoSecretsLogged(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	for _, e := range logs.All() {
		require.NotContains(t, e.Message, "secret-token")
		for k, v := range e.ContextMap() {
			require.NotContains(t, fmt.Sprint(v), "secret-token", "field %s", k)
		}
	}
}

func TestGroupMembersPageRefusesForeignNextLink(t *testing.T) {
	t.Parallel()
	b := setup(t, always(answer{status: 200, body: `{"value":[]}`}), options{})
	host := strings.TrimPrefix(b.base, "http://")
	tests := []struct {
		name, next, want string
	}{
		{"other host", "https://evil.example.com/v1.0/users?$skiptoken=x", "refusing nextLink to https://evil.example.com"},
		{"other scheme", "https://" + host + "/users?$skiptoken=x", "refusing nextLink"},
		{"other port", "http://127.0.0.1:1/v1.0/users?$skiptoken=x", "refusing nextLink"},
		{"relative", "/v1.0/users?$skiptoken=x", "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := b.client.GroupMembersPage(context.Background(), "g1", tt.next)
			require.ErrorContains(t, err, tt.want)
		})
	}
	require.Empty(t, b.graph.Seen(), "no request, so no token, ever goes to another host")
}

func TestCatalogAppID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		manifest string
		handle   func(n int, r *http.Request) answer
		wantID   string
		wantErr  error
		wantURIs []string
	}{
		{
			name: "found by externalId, then cached", manifest: "manifest-1",
			handle: always(answer{status: 200, body: `{"value":[{"id":"cat-1","externalId":"manifest-1","displayName":"Broadcast","distributionMethod":"organization"}]}`}),
			wantID: "cat-1",
			wantURIs: []string{
				"/v1.0/appCatalogs/teamsApps?$filter=externalId%20eq%20%27manifest-1%27",
			},
		},
		{
			name: "store app: found by id", manifest: "store-app-1",
			handle: func(n int, r *http.Request) answer {
				if strings.HasPrefix(r.URL.Query().Get("$filter"), "id eq ") {
					return answer{status: 200, body: `{"value":[{"id":"store-app-1","distributionMethod":"store"}]}`}
				}
				return answer{status: 200, body: `{"value":[]}`}
			},
			wantID: "store-app-1",
			wantURIs: []string{
				"/v1.0/appCatalogs/teamsApps?$filter=externalId%20eq%20%27store-app-1%27",
				"/v1.0/appCatalogs/teamsApps?$filter=id%20eq%20%27store-app-1%27",
			},
		},
		{
			name: "not in the catalog", manifest: "o'brien",
			handle:  always(answer{status: 200, body: `{"value":[]}`}),
			wantErr: graph.ErrAppNotInCatalog,
			wantURIs: []string{
				"/v1.0/appCatalogs/teamsApps?$filter=externalId%20eq%20%27o%27%27brien%27",
				"/v1.0/appCatalogs/teamsApps?$filter=id%20eq%20%27o%27%27brien%27",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.handle, options{})
			for range 2 {
				id, err := b.client.CatalogAppID(context.Background(), tt.manifest)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					break
				}
				require.NoError(t, err)
				require.Equal(t, tt.wantID, id)
			}
			var uris []string
			for _, r := range b.graph.Seen() {
				uris = append(uris, r.URI)
			}
			require.Equal(t, tt.wantURIs, uris)
			// What the server decodes is the OData expression itself.
			require.Equal(t, "externalId eq "+odataQuoted(tt.manifest), b.graph.Seen()[0].Query["$filter"][0])
		})
	}
}

func odataQuoted(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestInstallApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		answer        answer
		wantInstalled bool
		wantErr       []string
		wantNotFound  bool
	}{
		{name: "201 installed", answer: answer{status: 201}, wantInstalled: true},
		{name: "409 already installed", answer: answer{status: 409, body: `{"error":{"code":"Conflict","message":"App is already installed."}}`}},
		{
			name: "404 user unknown", answer: answer{status: 404, body: `{"error":{"code":"NotFound","message":"User not found"}}`},
			wantErr: []string{"graph: install app for user user-1: 404 NotFound: User not found"}, wantNotFound: true,
		},
		{
			name: "403 no permission: returned at once", answer: answer{status: 403, body: `{"error":{"code":"Forbidden","message":"Missing role permissions on the request."}}`},
			wantErr: []string{"403 Forbidden"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, always(tt.answer), options{})
			installed, err := b.client.InstallApp(context.Background(), "user-1", "cat-1")
			require.Equal(t, tt.wantInstalled, installed)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				require.Equal(t, tt.wantNotFound, errors.Is(err, graph.ErrNotFound))
				var ge *graph.Error
				require.ErrorAs(t, err, &ge)
				require.Equal(t, tt.answer.status, ge.Status)
			}
			reqs := b.graph.Seen()
			require.Len(t, reqs, 1, "4xx are not retried")
			require.Equal(t, http.MethodPost, reqs[0].Method)
			require.Equal(t, "/v1.0/users/user-1/teamwork/installedApps", reqs[0].URI)
			require.JSONEq(t, `{"teamsApp@odata.bind":"`+b.base+`/appCatalogs/teamsApps/cat-1"}`, reqs[0].Body)
		})
	}
}

func TestInstallationAndChat(t *testing.T) {
	t.Parallel()
	b := setup(t, func(n int, r *http.Request) answer {
		switch {
		case strings.HasSuffix(r.URL.Path, "/chat"):
			return answer{status: 200, body: `{"id":"19:user-1_cat-1@unq.gbl.spaces","chatType":"oneOnOne"}`}
		case r.URL.Query().Get("$filter") == "teamsApp/id eq 'cat-1'":
			return answer{status: 200, body: `{"value":[{"id":"aW5zdC8x+Pz0=","teamsApp":{"id":"cat-1","externalId":"manifest-1"}}]}`}
		default:
			return answer{status: 200, body: `{"value":[]}`}
		}
	}, options{})
	ctx := context.Background()

	inst, err := b.client.InstallationID(ctx, "user-1", "cat-1")
	require.NoError(t, err)
	require.Equal(t, "aW5zdC8x+Pz0=", inst)

	chat, err := b.client.ChatID(ctx, "user-1", inst)
	require.NoError(t, err)
	require.Equal(t, "19:user-1_cat-1@unq.gbl.spaces", chat)

	_, err = b.client.InstallationID(ctx, "user-1", "cat-2")
	require.ErrorIs(t, err, graph.ErrNotInstalled)

	reqs := b.graph.Seen()
	require.Equal(t, "/v1.0/users/user-1/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp%2Fid%20eq%20%27cat-1%27", reqs[0].URI)
	require.Equal(t, "/v1.0/users/user-1/teamwork/installedApps/aW5zdC8x+Pz0=/chat", reqs[1].URI)
}

// TestRetryAfterIsHonoured: after a 429 with a fractional Retry-After, the
// next request reaches the server no earlier than Retry-After after the 429
// left it.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	const retryAfter = 700 * time.Millisecond
	b := setup(t, func(n int, r *http.Request) answer {
		if n == 1 {
			return answer{status: 429, header: map[string]string{"Retry-After": "0.7"},
				body: `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`}
		}
		return answer{status: 201}
	}, options{})

	installed, err := b.client.InstallApp(context.Background(), "user-1", "cat-1")
	require.NoError(t, err)
	require.True(t, installed)

	reqs := b.graph.Seen()
	require.Len(t, reqs, 2)
	require.GreaterOrEqual(t, reqs[1].At.Sub(b.graph.AnsweredAt(1)), retryAfter)

	var throttled bool
	for _, e := range b.logs.All() {
		if e.Message == "graph: throttled, pausing the client" {
			throttled = true
			require.Equal(t, "user-1", e.ContextMap()["user_id"])
			require.EqualValues(t, 429, e.ContextMap()["status"])
			require.Equal(t, retryAfter, e.ContextMap()["retry_after"])
		}
	}
	require.True(t, throttled)
	requireNoSecretsLogged(t, b.logs)
}

// TestRetryAfterPausesEveryCaller: a 429 to one goroutine holds the
// requests of the others, of any kind, until Retry-After has passed.
func TestRetryAfterPausesEveryCaller(t *testing.T) {
	t.Parallel()
	const retryAfter = 800 * time.Millisecond
	b := setup(t, func(n int, r *http.Request) answer {
		if n == 1 {
			return answer{status: 429, header: map[string]string{"Retry-After": "0.8"}}
		}
		if strings.HasSuffix(r.URL.Path, "/chat") {
			return answer{status: 200, body: `{"id":"19:chat"}`}
		}
		return answer{status: 201}
	}, options{})
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := b.client.InstallApp(ctx, "user-1", "cat-1"); first <- err }()
	require.Eventually(t, func() bool { return time.Until(b.client.PausedUntil()) > 0 }, 5*time.Second, time.Millisecond)

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.client.ChatID(ctx, fmt.Sprintf("user-%d", i+2), "inst") })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, <-first)

	reqs := b.graph.Seen()
	require.Len(t, reqs, 5)
	for _, r := range reqs[1:] {
		require.GreaterOrEqual(t, r.At.Sub(b.graph.AnsweredAt(1)), retryAfter, "%s %s", r.Method, r.URI)
	}
}

// TestRequestSlowToItsConnectionWaitsForThePause: a request that passed
// the client's pacing before another goroutine got a 429, and was still
// dialling when the 429 came, is held back when it has its connection: it
// reaches Graph only after Retry-After.
func TestRequestSlowToItsConnectionWaitsForThePause(t *testing.T) {
	t.Parallel()
	const retryAfter = 500 * time.Millisecond
	secondDial, releaseDial := make(chan struct{}), make(chan struct{})
	var dials atomic.Int32
	var d net.Dialer
	b := setup(t, func(n int, r *http.Request) answer {
		if n == 1 {
			<-secondDial // the other request is on its way
			return answer{status: 429, header: map[string]string{"Retry-After": "0.5"}}
		}
		return answer{status: 200, body: `{"id":"19:chat"}`}
	}, options{maxRetries: 1, dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 {
			close(secondDial)
			<-releaseDial
		}
		return d.DialContext(ctx, network, addr)
	}})
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := b.client.ChatID(ctx, "user-1", "inst"); first <- err }()
	second := make(chan error, 1)
	// The first request is at Graph: the second needs a connection of its own.
	require.Eventually(t, func() bool { return len(b.graph.Seen()) == 1 }, 5*time.Second, time.Millisecond)
	go func() { _, err := b.client.ChatID(ctx, "user-2", "inst"); second <- err }()
	require.Eventually(t, func() bool { return time.Until(b.client.PausedUntil()) > 0 }, 5*time.Second, time.Millisecond)
	close(releaseDial)
	require.NoError(t, <-second)
	require.NoError(t, <-first)

	reqs := b.graph.Seen()
	require.Len(t, reqs, 3)
	for _, r := range reqs[1:] {
		require.GreaterOrEqual(t, r.At.Sub(b.graph.AnsweredAt(1)), retryAfter, "%s %s", r.Method, r.URI)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	unavailable := answer{status: 503, body: `{"error":{"code":"ServiceNotAvailable","message":"try later"}}`}
	tests := []struct {
		name         string
		maxRetries   int
		timeout      time.Duration
		handle       func(n int, r *http.Request) answer
		wantErr      []string
		wantStatus   int
		wantRequests int
		wantInvalid  []string
		wantAuth     []string
	}{
		{
			name: "503 twice, then 201", maxRetries: 5,
			handle: func(n int, _ *http.Request) answer {
				if n <= 2 {
					return unavailable
				}
				return answer{status: 201}
			},
			wantRequests: 3,
		},
		{
			name: "503 every time: bounded", maxRetries: 2,
			handle: always(unavailable), wantRequests: 3, wantStatus: 503,
			wantErr: []string{"graph: install app for user user-1: 503 ServiceNotAvailable: try later (gave up after 3 attempts)"},
		},
		{
			name: "429 without Retry-After every time: bounded", maxRetries: 1,
			handle:       always(answer{status: 429, body: `{"error":{"code":"TooManyRequests","message":"slow down"}}`}),
			wantRequests: 2, wantStatus: 429, wantErr: []string{"429 TooManyRequests", "gave up after 2 attempts"},
		},
		{
			name: "401 once: new token, then 201", maxRetries: 1,
			handle: func(n int, _ *http.Request) answer {
				if n == 1 {
					return answer{status: 401, body: `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`}
				}
				return answer{status: 201}
			},
			wantRequests: 2, wantInvalid: []string{"secret-token-0"},
			wantAuth: []string{"Bearer secret-token-0", "Bearer secret-token-1"},
		},
		{
			name: "401 twice: refreshed only once", maxRetries: 5,
			handle:       always(answer{status: 401, body: `{"error":{"code":"InvalidAuthenticationToken","message":"nope"}}`}),
			wantRequests: 2, wantStatus: 401, wantErr: []string{"401 InvalidAuthenticationToken"},
			wantInvalid: []string{"secret-token-0", "secret-token-1"},
		},
		{
			name: "400: at once", maxRetries: 5,
			handle:       always(answer{status: 400, body: `{"error":{"code":"BadRequest","message":"Invalid bind"}}`}),
			wantRequests: 1, wantStatus: 400, wantErr: []string{"400 BadRequest: Invalid bind"},
		},
		{
			name: "timeouts: bounded", maxRetries: 2, timeout: 50 * time.Millisecond,
			handle: func(_ int, r *http.Request) answer {
				<-r.Context().Done() // the client gives up first
				return answer{status: 201}
			},
			wantRequests: 3, wantErr: []string{"gave up after 3 attempts", "Timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.handle, options{maxRetries: tt.maxRetries, timeout: tt.timeout})
			_, err := b.client.InstallApp(context.Background(), "user-1", "cat-1")
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				require.NotContains(t, err.Error(), "secret-token")
				if tt.wantStatus != 0 {
					var ge *graph.Error
					require.ErrorAs(t, err, &ge)
					require.Equal(t, tt.wantStatus, ge.Status)
				}
			}
			require.Eventually(t, func() bool { return len(b.graph.Seen()) == tt.wantRequests }, 5*time.Second, time.Millisecond)
			require.Equal(t, tt.wantInvalid, b.tokens.Invalidated())
			if tt.wantAuth != nil {
				var auth []string
				for _, r := range b.graph.Seen() {
					auth = append(auth, r.Auth)
				}
				require.Equal(t, tt.wantAuth, auth)
			}
			requireNoSecretsLogged(t, b.logs)
		})
	}
}

func TestRetriesStopWithContext(t *testing.T) {
	t.Parallel()
	b := setup(t, always(answer{status: 429, header: map[string]string{"Retry-After": "30"}}), options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := b.client.InstallApp(ctx, "user-1", "cat-1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, b.graph.Seen(), 1)
}

func TestInstalledAppsArePaced(t *testing.T) {
	t.Parallel()
	const rps = 10
	b := setup(t, always(answer{status: 201}), options{rps: rps})
	start := time.Now()
	for range 4 {
		_, err := b.client.InstallApp(context.Background(), "user-1", "cat-1")
		require.NoError(t, err)
	}
	// Burst 1: the first request leaves at once, each next one a 1/rps later.
	require.GreaterOrEqual(t, time.Since(start), 3*time.Second/rps)
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  graph.Config
		want string
	}{
		{"no base url", graph.Config{Tokens: &tokens{}}, "BaseURL"},
		{"relative base url", graph.Config{BaseURL: "graph.microsoft.com/v1.0", Tokens: &tokens{}}, "BaseURL"},
		{"no tokens", graph.Config{BaseURL: "https://graph.microsoft.com/v1.0"}, "Tokens"},
		{"negative rps", graph.Config{BaseURL: "https://graph.microsoft.com/v1.0", Tokens: &tokens{}, RPS: -1}, "RPS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := graph.NewClient(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTenants(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var auths []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("scope") != "https://graph.microsoft.com/.default" || r.PostForm.Get("client_secret") != "pw" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json") // as Entra ID answers
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok-for-%s"}`, r.PathValue("tenant"))
	})
	mux.HandleFunc("GET /graph/v1.0/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"id":"u1"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ts := graph.NewTenants(graph.TenantsConfig{LoginURL: srv.URL + "/login", GraphURL: srv.URL + "/graph/v1.0",
		ClientID: "app", ClientSecret: "pw", HTTP: &http.Client{Timeout: 5 * time.Second}})
	a, err := ts.For("tenant-a")
	require.NoError(t, err)
	again, err := ts.For("tenant-a")
	require.NoError(t, err)
	require.Same(t, a, again)
	other, err := ts.For("tenant-b")
	require.NoError(t, err)
	require.NotSame(t, a, other)

	for _, c := range []*graph.Client{a, other} {
		u, err := c.User(context.Background(), "u1")
		require.NoError(t, err)
		require.Equal(t, graph.User{ID: "u1"}, u)
	}
	require.Equal(t, []string{"Bearer tok-for-tenant-a", "Bearer tok-for-tenant-b"}, auths)

	_, err = graph.NewTenants(graph.TenantsConfig{GraphURL: srv.URL, ClientID: "app", ClientSecret: "pw"}).For("t")
	require.ErrorContains(t, err, "LoginURL")
}
