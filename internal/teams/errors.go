package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Error is a non-2xx answer of the Connector.
type Error struct {
	Status  int
	Code    string // "error.code", or the numeric "errorCode" as text (e.g. "209")
	SubCode string // "subCode" from the message of an errorCode answer, e.g. MessageWritesBlocked
	Message string
	// RetryAfter is the Retry-After header of the answer; 0 if absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.SubCode != "" {
		b.WriteString("/" + e.SubCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

const maxMessage = 300 // bytes of an error message kept

// parseError reads both documented error shapes:
//
//	{"error":{"code":"ConversationBlockedByUser","message":"User blocked the conversation with the bot."}}
//	{"errorCode":209,"message":"{\"subCode\": \"MessageWritesBlocked\", \"details\": \"Thread is not writable\"}"}
//
// In the second the message is itself JSON text, parsed leniently.
func parseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RetryAfter: ParseRetryAfter(h.Get("Retry-After"))}
	var b struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		ErrorCode json.RawMessage `json:"errorCode"`
		SubCode   string          `json:"subCode"`
		Message   string          `json:"message"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		if s := strings.TrimSpace(string(body)); s != "" && !strings.HasPrefix(s, "<") {
			e.Message = clip(s) // not JSON, not an HTML error page: may still say something
		}
		return e
	}
	if b.Error != nil {
		e.Code, e.Message = b.Error.Code, b.Error.Message
	}
	if len(b.ErrorCode) > 0 && e.Code == "" {
		e.Code = strings.Trim(string(b.ErrorCode), `"`)
		if e.Code == "null" {
			e.Code = ""
		}
	}
	if e.Message == "" {
		e.Message = b.Message
	}
	e.SubCode = b.SubCode
	if e.SubCode == "" {
		e.SubCode, e.Message = innerMessage(e.Message)
	}
	e.Message = clip(strings.Join(strings.Fields(e.Message), " "))
	return e
}

var subCodeRE = regexp.MustCompile(`"?subCode"?\s*[:=]\s*"?([A-Za-z0-9_]+)`)

// innerMessage takes the subCode and a readable message out of a message
// that is itself JSON text. It falls back to a pattern match when the text
// is not valid JSON (truncated, single quotes).
func innerMessage(msg string) (subCode, text string) {
	trimmed := strings.TrimSpace(msg)
	if strings.HasPrefix(trimmed, "{") {
		var in struct {
			SubCode string `json:"subCode"`
			Details string `json:"details"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(trimmed), &in) == nil {
			text := in.Details
			if text == "" {
				text = in.Message
			}
			if in.SubCode != "" || text != "" {
				return in.SubCode, text
			}
		}
	}
	if m := subCodeRE.FindStringSubmatch(msg); m != nil {
		return m[1], msg
	}
	return "", msg
}

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage] + "..."
}

// Outcome is what an answer of the Connector means for the recipient.
type Outcome int

const (
	// OK: delivered.
	OK Outcome = iota
	// Retry: 412, 502, 503, 504, timeouts, connection errors, no token. May
	// pass: retry a bounded number of times with exponential backoff.
	Retry
	// Throttled: 429. Wait Error.RetryAfter (or back off when it is 0), and
	// make every request to the tenant wait, not only this one.
	Throttled
	// Blocked: the user blocked the bot (ConversationBlockedByUser, or 403
	// errorCode 209 with subCode MessageWritesBlocked). Do not retry.
	Blocked
	// Disabled: an admin disabled the bot (BotDisabledByAdmin). Do not retry.
	Disabled
	// NotInstalled: the app is not installed for the user in personal scope
	// (403 ForbiddenOperationException). Install it, then send.
	NotInstalled
	// ConversationGone: the app was uninstalled or the conversation no
	// longer exists (403 BotNotInConversationRoster, 404
	// ConversationNotFound). Forget the conversation; reinstall once.
	ConversationGone
	// BadMessage: the message itself is refused (400 BadArgument, 413
	// MessageSizeTooBig). Do not retry; the broadcast is wrong.
	BadMessage
	// Unauthorized: 401. The token was invalidated; retry once with a new one.
	Unauthorized
	// Failed: 500, 403 InvalidBotApiHost, anything else. Do not retry.
	Failed
)

var outcomeNames = [...]string{"ok", "retry", "throttled", "blocked", "disabled", "not_installed",
	"conversation_gone", "bad_message", "unauthorized", "failed"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Classify says what err, returned by a Client call, means. context.Canceled
// is Retry too: the call was cut, not refused; callers that are shutting
// down check their context before acting on the outcome.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return classifyStatus(e)
	}
	var te *tokenError
	switch {
	case errors.As(err, &te), serverClosedIdle(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return Retry
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Retry
	}
	var oe *net.OpError
	if errors.As(err, &oe) { // dial, read or write on the connection failed
		return Retry
	}
	return Failed
}

// serverClosedIdle reports net/http's "server closed idle connection"
// (unexported): the server closed a keep-alive connection it saw idle as
// the request was written on it (a send that waited in a gate while Redis
// stalled, say). The server read none of it: retry, nothing delivered.
func serverClosedIdle(err error) bool {
	return strings.Contains(err.Error(), "http: server closed idle connection")
}

// MaybeDelivered reports whether a failed call may still have been carried
// out by Teams, so that a retry of it may deliver the message a second
// time:
//   - no answer: a timeout, a connection cut after the request left (a
//     refused connection or a failed dial never sent it; no token, no call);
//   - 502 Bad Gateway and 504 Gateway Timeout: a gateway in front of the
//     Connector took the request and then lost or waited too long for the
//     answer of what it passed it to, which may have posted the message.
//
// 503 Service Unavailable is not: the service refused to take the request
// (TEAMS_PROTOCOL.md lists 502, 503 and 504 as "dependency trouble, retry";
// only 503 says the request was not processed, RFC 9110 15.6.4). 408 and 412
// are answers about a request not carried out; 429 was refused by the limit.
func MaybeDelivered(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout
	}
	var te *tokenError
	if err == nil || errors.As(err, &te) || errors.Is(err, syscall.ECONNREFUSED) || serverClosedIdle(err) {
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return false
	}
	return Classify(err) == Retry
}

func classifyStatus(e *Error) Outcome {
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return BadMessage
	case http.StatusUnauthorized:
		return Unauthorized
	case http.StatusForbidden:
		switch {
		case strings.EqualFold(e.SubCode, "MessageWritesBlocked"), e.Code == "209",
			strings.EqualFold(e.Code, "ConversationBlockedByUser"):
			return Blocked
		case strings.EqualFold(e.Code, "BotDisabledByAdmin"):
			return Disabled
		case strings.EqualFold(e.Code, "ForbiddenOperationException"):
			return NotInstalled
		case strings.EqualFold(e.Code, "BotNotInConversationRoster"):
			return ConversationGone
		default: // InvalidBotApiHost (wrong cloud) and anything unknown
			return Failed
		}
	case http.StatusNotFound:
		if e.Code == "" || strings.EqualFold(e.Code, "ConversationNotFound") {
			return ConversationGone
		}
		return Failed
	case http.StatusRequestTimeout, http.StatusPreconditionFailed,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return Retry
	case http.StatusTooManyRequests:
		return Throttled
	default: // 500 ServiceError and anything unknown
		return Failed
	}
}

// maxRetryAfter bounds a Retry-After so that a absurd value cannot overflow
// a time.Duration or park a tenant for days.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: whole or fractional seconds
// ("2", "2.128") or an HTTP date. Absent, invalid or past values give 0.
func ParseRetryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if isDecimal(h) {
		secs, err := strconv.ParseFloat(h, 64)
		if err != nil || math.IsNaN(secs) || secs <= 0 {
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0
	}
	d := time.Until(t)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// isDecimal accepts digits with at most one '.', and nothing else: no sign,
// exponent, hex, "Inf" or "NaN" that strconv.ParseFloat would take.
func isDecimal(s string) bool {
	dot, digits := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
