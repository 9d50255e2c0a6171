package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	maxBody     = 1 << 20          // bytes of an answer read
	drainBody   = 64 << 10         // bytes drained so the connection can be reused
	defaultHTTP = 30 * time.Second // timeout of the client used when none is given
)

// TokenSource hands out Bot Connector tokens; *token.Source is one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

// Client calls the Bot Connector at one service URL. It is safe for
// concurrent use.
type Client struct {
	path    string // decoded path of the service URL, without trailing slash
	rawPath string // its escaped form
	base    url.URL
	tokens  TokenSource
	http    *http.Client
	botID   string // "28:<app id>"
}

// NewClient returns a client of the Connector at serviceURL (for example
// https://smba.trafficmanager.net/teams/, with or without the trailing
// slash). httpClient should have its Timeout set; nil means a client with a
// 30 s timeout.
func NewClient(serviceURL string, tokens TokenSource, httpClient *http.Client, botAppID string) (*Client, error) {
	u, err := url.Parse(serviceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("teams: service URL %q is not an absolute http(s) URL", serviceURL)
	}
	if tokens == nil {
		return nil, errors.New("teams: token source is nil")
	}
	if strings.TrimSpace(botAppID) == "" {
		return nil, errors.New("teams: bot app id is empty")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultHTTP}
	}
	c := &Client{
		path:    strings.TrimRight(u.Path, "/"),
		rawPath: strings.TrimRight(u.EscapedPath(), "/"),
		base:    url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host},
		tokens:  tokens,
		http:    httpClient,
		botID:   "28:" + strings.TrimPrefix(botAppID, "28:"),
	}
	return c, nil
}

// Transport returns an HTTP transport for a process that makes up to
// concurrency Connector calls at once: it keeps that many idle connections
// to the Connector host instead of net/http's default of two, so a busy
// sender does not open and close a TLS connection per message.
func Transport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	n := max(concurrency, 2)
	t.MaxIdleConnsPerHost = n
	t.MaxIdleConns = max(t.MaxIdleConns, 2*n)
	return t
}

// CreateConversation creates, or returns the existing, 1:1 conversation of
// the bot with a user, who is addressed by their Entra object id. The app
// must be installed for the user (otherwise 403 ForbiddenOperationException,
// classified NotInstalled).
func (c *Client) CreateConversation(ctx context.Context, tenantID, userAADObjectID string) (string, error) {
	body, err := json.Marshal(conversationParams{
		Bot:         account{ID: c.botID},
		Members:     []account{{AADObjectID: userAADObjectID}},
		TenantID:    tenantID,
		ChannelData: channelData{Tenant: &tenantInfo{ID: tenantID}},
	})
	if err != nil {
		return "", fmt.Errorf("teams: create conversation for user %s: %w", userAADObjectID, err)
	}
	data, err := c.do(ctx, http.MethodPost, c.url("v3", "conversations"), body)
	if err != nil {
		return "", fmt.Errorf("teams: create conversation for user %s: %w", userAADObjectID, err)
	}
	var out resourceResponse
	if err := json.Unmarshal(data, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("teams: create conversation for user %s: answer has no conversation id", userAADObjectID)
	}
	return out.ID, nil
}

type conversationParams struct {
	IsGroup     bool        `json:"isGroup"`
	Bot         account     `json:"bot"`
	Members     []account   `json:"members"`
	TenantID    string      `json:"tenantId"`
	ChannelData channelData `json:"channelData"`
}

type account struct {
	ID          string `json:"id,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

type tenantInfo struct {
	ID string `json:"id"`
}

type resourceResponse struct {
	ID string `json:"id"`
}

// Send posts activity, a complete JSON activity (see Activity), to a
// conversation and returns the id of the new message, which Update and
// Delete need.
func (c *Client) Send(ctx context.Context, conversationID string, activity []byte) (string, error) {
	data, err := c.do(ctx, http.MethodPost, c.url("v3", "conversations", conversationID, "activities"), activity)
	if err != nil {
		return "", fmt.Errorf("teams: send to %s: %w", conversationID, err)
	}
	// The message is delivered whatever the body says: an answer without
	// an id is not an error, only a message that cannot be updated later.
	var out resourceResponse
	_ = json.Unmarshal(data, &out)
	return out.ID, nil
}

// Update replaces a message sent earlier.
func (c *Client) Update(ctx context.Context, conversationID, activityID string, activity []byte) error {
	if _, err := c.do(ctx, http.MethodPut, c.url("v3", "conversations", conversationID, "activities", activityID), activity); err != nil {
		return fmt.Errorf("teams: update %s in %s: %w", activityID, conversationID, err)
	}
	return nil
}

// Delete deletes a message sent earlier.
func (c *Client) Delete(ctx context.Context, conversationID, activityID string) error {
	if _, err := c.do(ctx, http.MethodDelete, c.url("v3", "conversations", conversationID, "activities", activityID), nil); err != nil {
		return fmt.Errorf("teams: delete %s in %s: %w", activityID, conversationID, err)
	}
	return nil
}

// url appends path segments to the service URL, each escaped on its own.
// Conversation ids such as "a:1x@thread.v2;messageid=1" hold ':', '@' and
// ';', which the Connector wants escaped (as encodeURIComponent does in the
// Bot Framework SDKs); url.PathEscape leaves ':' and '@' as they are, so the
// escaped path is built here and given to net/url as RawPath.
func (c *Client) url(segments ...string) *url.URL {
	u := c.base
	var p, raw strings.Builder
	p.WriteString(c.path)
	raw.WriteString(c.rawPath)
	for _, s := range segments {
		p.WriteString("/" + s)
		raw.WriteString("/" + escapeSegment(s))
	}
	u.Path, u.RawPath = p.String(), raw.String()
	return &u
}

// escapeSegment percent-encodes every byte but RFC 3986's unreserved ones.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '.', ch == '_', ch == '~':
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

// do makes one request and returns the body of a 2xx answer. A non-2xx
// answer is an *Error; a 401 also invalidates the token used.
func (c *Client) do(ctx context.Context, method string, u *url.URL, body []byte) ([]byte, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, &tokenError{err: err}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.http.Do(guard(ctx, req))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		throttled(ctx, resp.Header) // before the connection can go to another request
	}
	// A read error is ignored: the status is the answer. A 2xx whose body
	// broke off still happened (a message was sent), and must not be
	// retried because of it; an error status is classified by itself.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainBody)
	_ = resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusUnauthorized {
			c.tokens.Invalidate(tok)
		}
		return nil, parseError(resp.StatusCode, resp.Header, data)
	}
	return data, nil
}

// tokenError is a failure to get a token. It is not the recipient's fault
// and may pass (the login endpoint retries are exhausted, or the call's
// context ended), so Classify makes it Retry.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "get token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }
