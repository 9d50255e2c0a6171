package teams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

// tokens is a token source that counts invalidations; each invalidation
// makes the next token a new one.
type tokens struct {
	mu          sync.Mutex
	gen         int
	err         error
	invalidated []string
}

func (s *tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
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

// request is what the fake Connector saw.
type request struct {
	Method, URI, Auth, ContentType string
	Body                           []byte
}

// connector answers every request with one canned answer and records the
// requests.
type connector struct {
	status int
	header map[string]string
	body   string

	mu   sync.Mutex
	seen []request
}

func (c *connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.seen = append(c.seen, request{Method: r.Method, URI: r.RequestURI, Auth: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), Body: body})
	c.mu.Unlock()
	for k, v := range c.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(c.status)
	_, _ = io.WriteString(w, c.body)
}

func (c *connector) Requests() []request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]request(nil), c.seen...)
}

type bundle struct {
	client *teams.Client
	conn   *connector
	tokens *tokens
	url    string
}

func setup(t *testing.T, conn *connector, path string) *bundle {
	t.Helper()
	srv := httptest.NewServer(conn)
	t.Cleanup(srv.Close)
	tok := &tokens{}
	c, err := teams.NewClient(srv.URL+path, tok, &http.Client{Timeout: 5 * time.Second}, "bot-app-id")
	require.NoError(t, err)
	return &bundle{client: c, conn: conn, tokens: tok, url: srv.URL}
}

const conv = "a:1Xyz@thread.v2;messageid=1"

var activity = []byte(`{"type":"message","text":"hello"}`)

// TestStatusTable sends through a Connector answering each documented status
// and checks the outcome, the parsed error and what the client did.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	blocked209 := `{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is not writable\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		want        teams.Outcome
		wantCode    string
		wantSub     string
		wantRetry   time.Duration
		wantInvalid bool
	}{
		{name: "400 BadArgument", status: 400, body: `{"error":{"code":"BadArgument","message":"Unknown activity type"}}`, want: teams.BadMessage, wantCode: "BadArgument"},
		{name: "401 Unauthorized", status: 401, body: `{"message":"Authorization has been denied for this request."}`, want: teams.Unauthorized, wantInvalid: true},
		{name: "401 BotNotRegistered", status: 401, body: `{"error":{"code":"BotNotRegistered","message":"bot not registered"}}`, want: teams.Unauthorized, wantCode: "BotNotRegistered", wantInvalid: true},
		{name: "403 BotDisabledByAdmin", status: 403, body: `{"error":{"code":"BotDisabledByAdmin","message":"The tenant admin disabled this bot"}}`, want: teams.Disabled, wantCode: "BotDisabledByAdmin"},
		{name: "403 BotNotInConversationRoster", status: 403, body: `{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the conversation roster."}}`, want: teams.ConversationGone, wantCode: "BotNotInConversationRoster"},
		{name: "403 ConversationBlockedByUser", status: 403, body: `{"error":{"code":"ConversationBlockedByUser","message":"User blocked the conversation with the bot."}}`, want: teams.Blocked, wantCode: "ConversationBlockedByUser"},
		{name: "403 ForbiddenOperationException", status: 403, body: `{"error":{"code":"ForbiddenOperationException","message":"Bot is not installed in user's personal scope"}}`, want: teams.NotInstalled, wantCode: "ForbiddenOperationException"},
		{name: "403 errorCode 209 MessageWritesBlocked", status: 403, body: blocked209, want: teams.Blocked, wantCode: "209", wantSub: "MessageWritesBlocked"},
		{name: "403 errorCode 209 with a truncated inner message", status: 403, body: `{"errorCode":209,"message":"{\"subCode\": \"MessageWritesBlocked\", \"details\": \"Thread is"}`, want: teams.Blocked, wantCode: "209", wantSub: "MessageWritesBlocked"},
		{name: "403 InvalidBotApiHost", status: 403, body: `{"error":{"code":"InvalidBotApiHost","message":"Invalid bot api host. For GCC tenants please call https://smba.infra.gcc.teams.microsoft.com"}}`, want: teams.Failed, wantCode: "InvalidBotApiHost"},
		{name: "403 unknown code", status: 403, body: `{"error":{"code":"SomethingNew","message":"?"}}`, want: teams.Failed, wantCode: "SomethingNew"},
		{name: "404 ConversationNotFound", status: 404, body: `{"error":{"code":"ConversationNotFound","message":"Conversation not found."}}`, want: teams.ConversationGone, wantCode: "ConversationNotFound"},
		{name: "412 PreconditionFailed", status: 412, body: `{"error":{"code":"PreconditionFailed","message":"Conversation is being modified"}}`, want: teams.Retry, wantCode: "PreconditionFailed"},
		{name: "413 MessageSizeTooBig", status: 413, body: `{"error":{"code":"MessageSizeTooBig","message":"Message size too large"}}`, want: teams.BadMessage, wantCode: "MessageSizeTooBig"},
		{name: "429 with fractional Retry-After", status: 429, header: map[string]string{"Retry-After": "2.128"}, body: `{"error":{"code":"Throttled","message":"Too many requests"}}`, want: teams.Throttled, wantCode: "Throttled", wantRetry: 2128 * time.Millisecond},
		{name: "429 with whole Retry-After", status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"error":{"code":"Throttled","message":"Too many requests"}}`, want: teams.Throttled, wantCode: "Throttled", wantRetry: 3 * time.Second},
		{name: "429 without Retry-After", status: 429, body: `{"error":{"code":"Throttled","message":"Too many requests"}}`, want: teams.Throttled, wantCode: "Throttled"},
		{name: "500 ServiceError", status: 500, body: `{"error":{"code":"ServiceError","message":"Internal error"}}`, want: teams.Failed, wantCode: "ServiceError"},
		{name: "502", status: 502, body: `{"error":{"code":"ServiceError","message":"Bad gateway"}}`, want: teams.Retry, wantCode: "ServiceError"},
		{name: "503 with an HTML body", status: 503, body: `<html><body>Service Unavailable</body></html>`, want: teams.Retry},
		{name: "504 without a body", status: 504, want: teams.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &connector{status: tt.status, header: tt.header, body: tt.body}, "/teams/")

			id, err := b.client.Send(context.Background(), conv, activity)
			require.Error(t, err)
			require.Empty(t, id)
			require.Equal(t, tt.want, teams.Classify(err), "outcome of %v", err)
			require.NotContains(t, err.Error(), "secret-token")
			require.Contains(t, err.Error(), fmt.Sprint(tt.status))

			var te *teams.Error
			require.ErrorAs(t, err, &te)
			require.Equal(t, tt.status, te.Status)
			require.Equal(t, tt.wantCode, te.Code)
			require.Equal(t, tt.wantSub, te.SubCode)
			require.Equal(t, tt.wantRetry, te.RetryAfter)
			require.NotContains(t, te.Message, "\n")
			require.NotContains(t, te.Message, "<html>")

			if tt.wantInvalid {
				require.Equal(t, []string{"secret-token-0"}, b.tokens.Invalidated())
			} else {
				require.Empty(t, b.tokens.Invalidated())
			}
			require.Len(t, b.conn.Requests(), 1, "one request per call: no internal retries")
		})
	}
}

func TestSendOK(t *testing.T) {
	t.Parallel()
	b := setup(t, &connector{status: http.StatusCreated, body: `{"id":"1692206589131"}`}, "/teams")
	id, err := b.client.Send(context.Background(), conv, activity)
	require.NoError(t, err)
	require.Equal(t, teams.OK, teams.Classify(err))
	require.Equal(t, "1692206589131", id)

	reqs := b.conn.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodPost, reqs[0].Method)
	require.Equal(t, "Bearer secret-token-0", reqs[0].Auth)
	require.Equal(t, "application/json; charset=utf-8", reqs[0].ContentType)
	require.JSONEq(t, string(activity), string(reqs[0].Body))
}

func TestUnauthorizedThenRetryUsesNewToken(t *testing.T) {
	t.Parallel()
	conn := &connector{status: http.StatusUnauthorized, body: `{"message":"Authorization has been denied for this request."}`}
	b := setup(t, conn, "/")
	_, err := b.client.Send(context.Background(), conv, activity)
	require.Equal(t, teams.Unauthorized, teams.Classify(err))

	conn.mu.Lock()
	conn.status, conn.body = http.StatusCreated, `{"id":"m1"}`
	conn.mu.Unlock()
	id, err := b.client.Send(context.Background(), conv, activity)
	require.NoError(t, err)
	require.Equal(t, "m1", id)
	reqs := b.conn.Requests()
	require.Equal(t, "Bearer secret-token-0", reqs[0].Auth)
	require.Equal(t, "Bearer secret-token-1", reqs[1].Auth)
}

func TestPathEscaping(t *testing.T) {
	t.Parallel()
	const escapedConv = "a%3A1Xyz%40thread.v2%3Bmessageid%3D1"
	tests := []struct {
		name    string
		service string
		call    func(context.Context, *teams.Client) error
		method  string
		uri     string
	}{
		{
			name: "send, service URL with trailing slash", service: "/teams/", method: http.MethodPost,
			uri:  "/teams/v3/conversations/" + escapedConv + "/activities",
			call: func(ctx context.Context, c *teams.Client) error { _, err := c.Send(ctx, conv, activity); return err },
		},
		{
			name: "send, service URL without trailing slash", service: "/teams", method: http.MethodPost,
			uri:  "/teams/v3/conversations/" + escapedConv + "/activities",
			call: func(ctx context.Context, c *teams.Client) error { _, err := c.Send(ctx, conv, activity); return err },
		},
		{
			name: "send, service URL without a path", service: "", method: http.MethodPost,
			uri:  "/v3/conversations/" + escapedConv + "/activities",
			call: func(ctx context.Context, c *teams.Client) error { _, err := c.Send(ctx, conv, activity); return err },
		},
		{
			name: "graph chat id as conversation", service: "/teams/", method: http.MethodPost,
			uri: "/teams/v3/conversations/19%3Auser-1_app-1%40unq.gbl.spaces/activities",
			call: func(ctx context.Context, c *teams.Client) error {
				_, err := c.Send(ctx, "19:user-1_app-1@unq.gbl.spaces", activity)
				return err
			},
		},
		{
			name: "update", service: "/teams/", method: http.MethodPut,
			uri:  "/teams/v3/conversations/" + escapedConv + "/activities/1%3A2%2F3",
			call: func(ctx context.Context, c *teams.Client) error { return c.Update(ctx, conv, "1:2/3", activity) },
		},
		{
			name: "delete", service: "/teams", method: http.MethodDelete,
			uri:  "/teams/v3/conversations/" + escapedConv + "/activities/1692206589131",
			call: func(ctx context.Context, c *teams.Client) error { return c.Delete(ctx, conv, "1692206589131") },
		},
		{
			name: "create conversation", service: "/teams/", method: http.MethodPost,
			uri: "/teams/v3/conversations",
			call: func(ctx context.Context, c *teams.Client) error {
				_, err := c.CreateConversation(ctx, "tenant-1", "user-1")
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &connector{status: http.StatusOK, body: `{"id":"x"}`}, tt.service)
			require.NoError(t, tt.call(context.Background(), b.client))
			reqs := b.conn.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, tt.method, reqs[0].Method)
			require.Equal(t, tt.uri, reqs[0].URI)
		})
	}
}

func TestCreateConversation(t *testing.T) {
	t.Parallel()
	b := setup(t, &connector{status: http.StatusCreated, body: `{"id":"a:1conv"}`}, "/teams/")
	id, err := b.client.CreateConversation(context.Background(), "tenant-1", "user-guid-1")
	require.NoError(t, err)
	require.Equal(t, "a:1conv", id)
	reqs := b.conn.Requests()
	require.Len(t, reqs, 1)
	require.JSONEq(t, `{"isGroup":false,"bot":{"id":"28:bot-app-id"},"members":[{"aadObjectId":"user-guid-1"}],
		"tenantId":"tenant-1","channelData":{"tenant":{"id":"tenant-1"}}}`, string(reqs[0].Body))

	b = setup(t, &connector{status: http.StatusForbidden, body: `{"error":{"code":"ForbiddenOperationException","message":"Bot is not installed in user's personal scope"}}`}, "/teams/")
	_, err = b.client.CreateConversation(context.Background(), "tenant-1", "user-guid-1")
	require.Equal(t, teams.NotInstalled, teams.Classify(err))
	require.ErrorContains(t, err, "teams: create conversation for user user-guid-1: 403 ForbiddenOperationException: Bot is not installed")
}

// TestTransportFailures: no answer at all is Retry.
func TestTransportFailures(t *testing.T) {
	t.Parallel()

	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(stop) }) // runs first

	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close() // connection closed without an answer
		}
	}))
	t.Cleanup(hangUp.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		ctx     context.Context
		tokErr  error
		// maybe: Teams may have carried the send out (teams.MaybeDelivered)
		maybe bool
	}{
		{name: "slow server, short client timeout", url: slow.URL, timeout: 50 * time.Millisecond, ctx: context.Background(), maybe: true},
		{name: "slow server, context deadline", url: slow.URL, timeout: 5 * time.Second, ctx: deadline(t, 50*time.Millisecond), maybe: true},
		{name: "connection refused", url: refused, timeout: 5 * time.Second, ctx: context.Background()},
		{name: "connection closed without an answer", url: hangUp.URL, timeout: 5 * time.Second, ctx: context.Background(), maybe: true},
		// A canceled call cannot tell whether it had left: counted.
		{name: "caller canceled", url: slow.URL, timeout: 5 * time.Second, ctx: canceled, maybe: true},
		{name: "no token", url: slow.URL, timeout: 5 * time.Second, ctx: context.Background(), tokErr: errors.New("token: 503")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := teams.NewClient(tt.url, &tokens{err: tt.tokErr}, &http.Client{Timeout: tt.timeout}, "bot")
			require.NoError(t, err)
			_, err = c.Send(tt.ctx, conv, activity)
			require.Error(t, err)
			require.Equal(t, teams.Retry, teams.Classify(err), "outcome of %v", err)
			require.Equal(t, tt.maybe, teams.MaybeDelivered(err), "maybe delivered: %v", err)
		})
	}
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLargeErrorBodyIsBounded(t *testing.T) {
	t.Parallel()
	huge := `{"error":{"code":"BadArgument","message":"` + strings.Repeat("x", 3<<20) + `"}}`
	b := setup(t, &connector{status: http.StatusBadRequest, body: huge}, "/")
	_, err := b.client.Send(context.Background(), conv, activity)
	require.Equal(t, teams.BadMessage, teams.Classify(err)) // status alone decides: the body was cut at 1 MiB
	require.Less(t, len(err.Error()), 1000)
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, bot string
		tokens         teams.TokenSource
		want           string
	}{
		{"relative url", "smba.trafficmanager.net/teams", "bot", &tokens{}, "service URL"},
		{"no tokens", "https://smba.trafficmanager.net/teams/", "bot", nil, "token source"},
		{"no bot id", "https://smba.trafficmanager.net/teams/", "", &tokens{}, "bot app id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := teams.NewClient(tt.url, tt.tokens, nil, tt.bot)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestClassifyWrapped(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("send job: %w", &teams.Error{Status: 429, RetryAfter: time.Second})
	require.Equal(t, teams.Throttled, teams.Classify(err))
	require.Equal(t, teams.OK, teams.Classify(nil))
	require.Equal(t, teams.Failed, teams.Classify(errors.New("something else")))
	// A gateway's 502 or 504 may hide a send that went through; the
	// other answers say it was not carried out.
	for status, maybe := range map[int]bool{502: true, 504: true, 503: false, 500: false, 408: false, 412: false, 429: false, 403: false} {
		require.Equal(t, maybe, teams.MaybeDelivered(fmt.Errorf("send: %w", &teams.Error{Status: status})), "maybe delivered after %d", status)
	}
	require.False(t, teams.MaybeDelivered(nil))
	// net/http's error when the server closed a keep-alive connection it
	// saw idle as the request went out on it: the server read none of it.
	closedIdle := &url.Error{Op: "Post", URL: "http://connector/v3/conversations/c/activities", Err: errors.New("http: server closed idle connection")}
	require.Equal(t, teams.Retry, teams.Classify(fmt.Errorf("send: %w", closedIdle)))
	require.False(t, teams.MaybeDelivered(closedIdle))
	require.Equal(t, "conversation_gone", teams.ConversationGone.String())
	require.Equal(t, "throttled", teams.Throttled.String())
}

func TestTransport(t *testing.T) {
	t.Parallel()
	tr := teams.Transport(64)
	require.Equal(t, 64, tr.MaxIdleConnsPerHost)
	require.GreaterOrEqual(t, tr.MaxIdleConns, 128)
}
