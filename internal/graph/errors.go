package graph

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels for errors.Is. A 404 *Error is ErrNotFound.
var (
	ErrNotFound        = errors.New("graph: not found")
	ErrNotInstalled    = errors.New("graph: app not installed for the user")
	ErrAppNotInCatalog = errors.New("graph: app not in the tenant's app catalog")
	// ErrSyncReset is a delta link Graph no longer serves (expired, or
	// its sync state lost: 410 Gone, or 400 syncStateNotFound for
	// directory objects): the client must start a full round again.
	ErrSyncReset = errors.New("graph: delta sync state gone, a full sync is needed")
)

// Error is a non-2xx answer of Graph.
type Error struct {
	Status     int
	Code       string // e.g. NotFound, TooManyRequests, Request_ResourceNotFound
	Message    string
	RetryAfter time.Duration // 0 if absent
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is makes a 404 match ErrNotFound, and the answers to a delta link Graph
// no longer serves match ErrSyncReset.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrSyncReset:
		return e.Status == http.StatusGone || strings.EqualFold(e.Code, "syncStateNotFound") ||
			strings.EqualFold(e.Code, "resyncRequired") || strings.EqualFold(e.Code, "syncStateInvalid")
	}
	return false
}

// Permanent reports whether err is an answer of Graph that asking again
// will not change: a 4xx other than 408 (timeout), 409 (conflict), 412,
// 423 (locked), 424 (a failed dependency of a batch) and 429. The client
// returns a 401 only after one retry with a new token, so a 401 here is
// the app's credentials or consent. A 400 or 410 about a delta link Graph
// no longer serves (ErrSyncReset) is not: a full sync starts instead. 5xx,
// timeouts and broken connections may pass.
func Permanent(err error) bool {
	var e *Error
	if !errors.As(err, &e) || errors.Is(e, ErrSyncReset) || e.Status < 400 || e.Status >= 500 {
		return false
	}
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusPreconditionFailed,
		http.StatusLocked, http.StatusFailedDependency, http.StatusTooManyRequests:
		return false
	}
	return true
}

const maxMessage = 300

// parseError reads Graph's error body, {"error":{"code":"...","message":"..."}}.
func parseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RetryAfter: parseRetryAfter(h.Get("Retry-After"))}
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Code = b.Error.Code
		e.Message = strings.Join(strings.Fields(b.Error.Message), " ")
		if len(e.Message) > maxMessage {
			e.Message = e.Message[:maxMessage] + "..."
		}
	}
	return e
}

// parseRetryAfter reads whole or fractional seconds ("2.128") or an HTTP
// date; anything else is 0. The same rules as teams.ParseRetryAfter, kept
// here so that the Graph client does not depend on the Connector client.
func parseRetryAfter(h string) time.Duration {
	const maxWait = 24 * time.Hour
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if strings.Trim(h, "0123456789.") == "" && strings.Count(h, ".") <= 1 && h != "." {
		secs, err := strconv.ParseFloat(h, 64)
		if err != nil || math.IsNaN(secs) || secs <= 0 {
			return 0
		}
		if secs >= maxWait.Seconds() {
			return maxWait
		}
		return time.Duration(secs * float64(time.Second))
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0
	}
	return min(max(time.Until(t), 0), maxWait)
}
