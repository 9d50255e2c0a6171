package cli

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

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Client calls the dispatcher's API. It is the only way the CLI reaches
// the service.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration // per request, streamed bodies included
	apiKey  string        // sent as a bearer token; never printed
}

// NewClient returns a client of the API at base (http://host:port) that
// authenticates with apiKey (none when empty).
func NewClient(base, apiKey string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api: want a URL such as http://127.0.0.1:8080, got %q", base)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("--timeout: must be positive, got %s", timeout)
	}
	if strings.ContainsAny(apiKey, " \t\r\n") {
		return nil, errors.New("--api-key: the key has spaces or line breaks in it; give the key bcast keygen printed")
	}
	return &Client{base: u, http: &http.Client{}, timeout: timeout, apiKey: apiKey}, nil
}

// APIError is an error answer of the API: its status and its JSON error
// body ({"error":{"code","message","fields":[{"field","problem"}]}}).
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  []broadcast.FieldError
	// RetryAfter is the answer's Retry-After, if any.
	RetryAfter string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the API answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Problem)
	}
	if e.RetryAfter != "" {
		fmt.Fprintf(&b, "\n  retry after %s s", e.RetryAfter)
	}
	if e.Status == http.StatusUnauthorized {
		b.WriteString("\n  give the API key with --api-key or BCAST_API_KEY (an admin mints one with bcast keygen)")
	}
	return b.String()
}

// request is one call: a JSON body or a ready one with its content type.
type request struct {
	method, path string
	query        url.Values
	json         any
	body         io.Reader
	contentType  string
	header       http.Header
}

// do sends req and decodes a 2xx JSON answer into out (if not nil). It
// returns the answer's header.
func (c *Client) do(ctx context.Context, req request, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", req.method, req.path, err)
		}
	}
	return resp.Header, nil
}

// stream sends req and copies a 2xx answer's body to w as it arrives. A
// streamed report may take longer than --timeout in all: the timeout
// bounds the wait for the answer and then each wait for more of it.
func (c *Client) stream(ctx context.Context, req request, w io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(c.timeout, func() { cancel(errIdle) })
	defer idle.Stop()
	resp, err := c.send(ctx, req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errIdle) {
			return fmt.Errorf("%s %s: no answer within %s (--timeout)", req.method, req.path, c.timeout)
		}
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 32<<10)
	for {
		idle.Reset(c.timeout)
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if errors.Is(context.Cause(ctx), errIdle) {
				return fmt.Errorf("%s %s: the answer stalled for %s (--timeout)", req.method, req.path, c.timeout)
			}
			return fmt.Errorf("%s %s: the answer was cut short: %w", req.method, req.path, rerr)
		}
	}
}

var errIdle = errors.New("idle")

// send makes the call; an answer that is not 2xx is an *APIError.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + req.path
	u.RawQuery = req.query.Encode()
	body, ct := req.body, req.contentType
	if req.json != nil {
		raw, err := json.Marshal(req.json)
		if err != nil {
			return nil, fmt.Errorf("encode the request: %w", err)
		}
		body, ct = bytes.NewReader(raw), "application/json"
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	hr.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s %s: no answer within %s (--timeout)", req.method, u.Redacted(), c.timeout)
		}
		return nil, fmt.Errorf("%s %s: %w", req.method, u.Redacted(), err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &APIError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var eb struct {
		Error struct {
			Code    string                 `json:"code"`
			Message string                 `json:"message"`
			Fields  []broadcast.FieldError `json:"fields"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Message != "" {
		e.Code, e.Message, e.Fields = eb.Error.Code, eb.Error.Message, eb.Error.Fields
	} else {
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "…"
		}
	}
	return nil, e
}

// Broadcast is a broadcast as the API shows it: the fields the CLI reads.
type Broadcast struct {
	ID           string                        `json:"id"`
	TenantID     string                        `json:"tenantId"`
	Kind         string                        `json:"kind,omitempty"`
	PreviewOf    string                        `json:"previewOf,omitempty"`
	ReminderOf   string                        `json:"reminderOf,omitempty"`
	Reminder     *broadcast.Reminder           `json:"reminder,omitempty"`
	RemindedBy   []string                      `json:"remindedBy,omitempty"`
	Reminders    []broadcast.ScheduledReminder `json:"reminders,omitempty"`
	CreatedBy    string                        `json:"createdBy,omitempty"`
	Status       broadcast.Status              `json:"status"`
	Priority     string                        `json:"priority"`
	Message      json.RawMessage               `json:"message"`
	CreatedAt    time.Time                     `json:"createdAt"`
	SendAt       *time.Time                    `json:"sendAt,omitempty"`
	LocalTime    *string                       `json:"localTime,omitempty"`
	Zones        []broadcast.Zone              `json:"zones,omitempty"`
	CompletedAt  *time.Time                    `json:"completedAt,omitempty"`
	Error        string                        `json:"error,omitempty"`
	AudienceSize *int64                        `json:"audienceSize,omitempty"`
	Counts       broadcast.Counts              `json:"counts"`
	Unresolved   *struct {
		Count int      `json:"count"`
		UPNs  []string `json:"upns"`
	} `json:"unresolved,omitempty"`
	Edit       *Progress           `json:"edit,omitempty"`
	Recall     *Progress           `json:"recall,omitempty"`
	Approval   *broadcast.Approval `json:"approval,omitempty"`
	Engagement *Engagement         `json:"engagement,omitempty"`
}

// Engagement is a broadcast's engagement counters as the API shows them.
type Engagement struct {
	Read         int64            `json:"read"`
	Acknowledged int64            `json:"acknowledged"`
	Reacted      int64            `json:"reacted"`
	Replied      int64            `json:"replied"`
	Replies      int64            `json:"replies"`
	Acted        int64            `json:"acted"`
	Actions      int64            `json:"actions"`
	ReceiptsOn   int64            `json:"receiptsOn"`
	Reactions    map[string]int64 `json:"reactions,omitempty"`
}

// EngagementReport is GET /v1/broadcasts/{id}/engagement's answer.
type EngagementReport struct {
	BroadcastID string     `json:"broadcastId"`
	Delivered   int64      `json:"delivered"`
	Counts      Engagement `json:"counts"`
	Since       time.Time  `json:"since"`
	Series      struct {
		PerMinute []EngagementPoint `json:"perMinute"`
		PerHour   []EngagementPoint `json:"perHour"`
	} `json:"series"`
	Departments []struct {
		Department   string `json:"department"`
		Delivered    int64  `json:"delivered"`
		Read         int64  `json:"read"`
		Acknowledged int64  `json:"acknowledged"`
		Reacted      int64  `json:"reacted"`
		Replied      int64  `json:"replied"`
	} `json:"departments,omitempty"`
}

// EngagementPoint is one bucket of the engagement's series.
type EngagementPoint struct {
	At           time.Time `json:"at"`
	Read         int64     `json:"read"`
	Acknowledged int64     `json:"acknowledged"`
}

// Engagement returns a broadcast's engagement; with breakdown
// ("department") its breakdown too.
func (c *Client) Engagement(ctx context.Context, id, breakdown string) (*EngagementReport, error) {
	q := url.Values{}
	if breakdown != "" {
		q.Set("breakdown", breakdown)
	}
	var r EngagementReport
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/broadcasts/" + url.PathEscape(id) + "/engagement", query: q}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Progress is the progress of an edit or a recall.
type Progress struct {
	Round   int    `json:"round,omitempty"`
	Status  string `json:"status"`
	Total   int64  `json:"total"`
	Pending int64  `json:"pending"`
	Done    int64  `json:"done"`
	Failed  int64  `json:"failed"`
	Skipped int64  `json:"skipped"`
}

// Ended reports whether nothing more will happen to the broadcast.
func (b *Broadcast) Ended() bool { return b.Status.Ended() }

// Size is the number of recipients to reach: the resolved audience when
// the API knows it, else the recipients known so far.
func (b *Broadcast) Size() int64 {
	if b.AudienceSize != nil && *b.AudienceSize > b.Counts.Total {
		return *b.AudienceSize
	}
	return b.Counts.Total
}

// Get returns a broadcast.
func (c *Client) Get(ctx context.Context, id string) (*Broadcast, error) {
	var b Broadcast
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/broadcasts/" + url.PathEscape(id)}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}
