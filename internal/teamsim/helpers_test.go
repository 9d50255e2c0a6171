package teamsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

const (
	testBotAppID   = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	testBotSecret  = "test-secret-0123456789"
	testTeamsAppID = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
	testTenant     = "11111111-2222-3333-4444-555555555555"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testBundle is a simulator on an httptest server.
type testBundle struct {
	sim    *Sim
	srv    *httptest.Server
	clock  *fakeClock // nil when the sim uses the real clock
	tenant string
}

type setupOpt func(*Config, *bool)

// withRealClock keeps time.Now as the sim's clock.
func withRealClock() setupOpt { return func(_ *Config, real *bool) { *real = true } }

// setup starts a simulator of cfg, with test credentials and tenant filled
// in where cfg leaves them empty, on a fake clock unless withRealClock.
func setup(t *testing.T, cfg Config, opts ...setupOpt) *testBundle {
	t.Helper()
	if len(cfg.Tenants) == 0 {
		cfg.Tenants = []string{testTenant}
	}
	if cfg.BotAppID == "" {
		cfg.BotAppID, cfg.BotAppPassword, cfg.TeamsAppID = testBotAppID, testBotSecret, testTeamsAppID
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	real := false
	for _, o := range opts {
		o(&cfg, &real)
	}
	sim, err := New(cfg)
	require.NoError(t, err)
	b := &testBundle{sim: sim, tenant: cfg.Tenants[0]}
	if !real {
		b.clock = &fakeClock{t: time.Date(2025, 11, 3, 9, 0, 0, 0, time.UTC)}
		sim.setClock(b.clock.Now)
	}
	b.srv = httptest.NewServer(sim.Handler())
	t.Cleanup(b.srv.Close)
	return b
}

// response is a completed HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// errorCode is error.code of a Connector or Graph error body.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	require.True(t, ok, "no error object in %s", r.body)
	return e["code"].(string)
}

func (b *testBundle) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		data, err := json.Marshal(v)
		require.NoError(t, err)
		rd = bytes.NewReader(data)
	}
	target := path
	if strings.HasPrefix(path, "/") {
		target = b.srv.URL + path
	}
	req, err := http.NewRequest(method, target, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// tokenRequest posts the token form and returns the answer.
func (b *testBundle) tokenRequest(t *testing.T, tenant string, form url.Values) response {
	t.Helper()
	resp, err := b.srv.Client().PostForm(b.srv.URL+"/login/"+tenant+"/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func credentials(scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {testBotAppID}, "client_secret": {testBotSecret}, "scope": {scope}}
}

// connectorToken returns a Bot Connector token.
func (b *testBundle) connectorToken(t *testing.T) string {
	t.Helper()
	r := b.tokenRequest(t, ConnectorTenant, credentials(ScopeConnector))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return r.json(t)["access_token"].(string)
}

// graphToken returns a Graph token for the bundle's tenant.
func (b *testBundle) graphToken(t *testing.T) string {
	t.Helper()
	r := b.tokenRequest(t, b.tenant, credentials(ScopeGraph))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return r.json(t)["access_token"].(string)
}

// userWhere returns the first user of the tenant for which pick is true.
func (b *testBundle) userWhere(t *testing.T, pick func(User) bool) User {
	t.Helper()
	for _, u := range b.sim.Users(b.tenant) {
		if pick(u) {
			return u
		}
	}
	t.Fatal("no user matches")
	return User{}
}

func deliverable(u User) bool {
	return u.Installed && !u.Blocked && !u.Disabled
}

func notInstalled(u User) bool { return !u.Installed && !u.Disabled }

// convPath is the Connector path of a conversation's activities, the id
// escaped as the Bot Framework SDKs do.
func convPath(conv string) string {
	return "/connector/v3/conversations/" + sdkEscaper.Replace(url.PathEscape(conv)) + "/activities"
}

var sdkEscaper = strings.NewReplacer(":", "%3A", "@", "%40")

// createConversation calls the Connector's create for a user.
func (b *testBundle) createConversation(t *testing.T, token, userID string) response {
	t.Helper()
	return b.do(t, http.MethodPost, "/connector/v3/conversations", token, map[string]any{
		"isGroup":     false,
		"bot":         map[string]string{"id": "28:" + testBotAppID},
		"members":     []map[string]string{{"aadObjectId": userID}},
		"tenantId":    b.tenant,
		"channelData": map[string]any{"tenant": map[string]string{"id": b.tenant}},
	})
}

// conversation returns the conversation id of an installed user.
func (b *testBundle) conversation(t *testing.T, token, userID string) string {
	t.Helper()
	r := b.createConversation(t, token, userID)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

const hello = `{"type":"message","text":"Hello from the simulator test"}`

func (b *testBundle) send(t *testing.T, token, conv, activity string) response {
	t.Helper()
	return b.do(t, http.MethodPost, convPath(conv), token, activity)
}

// rawSend sends without a *testing.T, for other goroutines.
func (b *testBundle) rawSend(token, conv, activity string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+convPath(conv), strings.NewReader(activity))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
