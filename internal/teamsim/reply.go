package teamsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

var (
	contentTypeJSON  = []string{"application/json; charset=utf-8"}
	contentTypeGraph = []string{"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"}
)

// reply answers a request to a simulated service: it counts the status,
// waits the configured latency (Connector and Graph only, holding no lock)
// and writes body.
func (s *Sim) reply(w http.ResponseWriter, r *http.Request, status int, contentType []string, body []byte, delay bool) {
	s.led.answered(status)
	if status == http.StatusTooManyRequests {
		s.led.throttled.Add(1)
	}
	if delay && !inBatch(r) {
		s.delay(r)
	}
	h := w.Header()
	if len(body) > 0 {
		h["Content-Type"] = contentType
	}
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// Connector errors: {"error":{"code":"...","message":"..."}}.

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innerError,omitempty"`
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// Connector error codes.
const (
	codeBadArgument          = "BadArgument"
	codeUnauthorized         = "Unauthorized"
	codeBotDisabledByAdmin   = "BotDisabledByAdmin"
	codeNotInRoster          = "BotNotInConversationRoster"
	codeBlockedByUser        = "ConversationBlockedByUser"
	codeForbiddenOperation   = "ForbiddenOperationException"
	codeConversationNotFound = "ConversationNotFound"
	codeNotFound             = "NotFound"
	codePreconditionFailed   = "PreconditionFailed"
	codeMessageSizeTooBig    = "MessageSizeTooBig"
	codeThrottled            = "Throttled"
	codeServiceError         = "ServiceError"
	codeBadGateway           = "BadGateway"
	codeServiceUnavailable   = "ServiceUnavailable"
	codeGatewayTimeout       = "GatewayTimeout"
)

var connectorMessages = map[string]string{
	codeBadArgument:          "The request is invalid.",
	codeUnauthorized:         "Authorization has been denied for this request.",
	"BotNotRegistered":       "The bot is not registered.",
	codeBotDisabledByAdmin:   "The bot is disabled for this user by the tenant administrator.",
	codeNotInRoster:          "The bot is not part of the conversation roster.",
	codeBlockedByUser:        "User blocked the conversation with the bot.",
	codeForbiddenOperation:   "Bot is not installed in user's personal scope",
	"InvalidBotApiHost":      "Invalid bot api host. For GCC tenants, please use https://smba.infra.gcc.teams.microsoft.com",
	codeConversationNotFound: "Conversation not found.",
	codeNotFound:             "The activity was not found in the conversation.",
	codePreconditionFailed:   "Precondition failed: the conversation was changed by a concurrent operation.",
	codeMessageSizeTooBig:    "Message size too large.",
	codeThrottled:            "Too many requests. Retry after the number of seconds in the Retry-After header.",
	codeServiceError:         "An unexpected error occurred.",
	codeBadGateway:           "Bad gateway: a dependency failed.",
	codeServiceUnavailable:   "The service is temporarily unavailable.",
	codeGatewayTimeout:       "A dependency did not answer in time.",
	"Forbidden":              "The operation is forbidden.",
}

// defaultConnectorCode is the code of an injected fault that names none.
func defaultConnectorCode(status int) string {
	switch status {
	case 400:
		return codeBadArgument
	case 401:
		return codeUnauthorized
	case 403:
		return codeForbiddenOperation
	case 404:
		return codeConversationNotFound
	case 412:
		return codePreconditionFailed
	case 413:
		return codeMessageSizeTooBig
	case 429:
		return codeThrottled
	case 502:
		return codeBadGateway
	case 503:
		return codeServiceUnavailable
	case 504:
		return codeGatewayTimeout
	default:
		return codeServiceError
	}
}

// body209 is what Teams answers (403) when the user blocked or removed the
// bot: a numeric errorCode and a message that is itself JSON text.
var body209 = []byte(`{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is not writable\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`)

// connectorBodies caches the bodies of the errors answered with their
// default message, so that hot refusals (429, 403) do not marshal.
var connectorBodies = func() map[string][]byte {
	m := make(map[string][]byte, len(connectorMessages))
	for code, msg := range connectorMessages {
		m[code] = marshalError(code, msg, nil)
	}
	return m
}()

// connectorError is the body of a Connector error; message "" means the
// code's usual message.
func connectorError(code, message string) []byte {
	if code == BlockShape209 || code == "MessageWritesBlocked" {
		return body209
	}
	if message == "" {
		if b, ok := connectorBodies[code]; ok {
			return b
		}
		message = "Simulated " + code + "."
	}
	return marshalError(code, message, nil)
}

func marshalError(code, message string, inner *innerError) []byte {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: message, InnerError: inner}})
	return b
}

func (s *Sim) connectorFail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	s.reply(w, r, status, contentTypeJSON, connectorError(code, message), true)
}

// connectorThrottle answers 429 with Retry-After.
func (s *Sim) connectorThrottle(w http.ResponseWriter, r *http.Request, t *tenantState, v verdict) {
	scope := "conversation"
	if v.refusedBy == t.connector {
		scope = "tenant"
	}
	s.noteThrottle(t, scope, v)
	w.Header()["Retry-After"] = []string{retryAfterHeader(v.retryAfter)}
	s.connectorFail(w, r, http.StatusTooManyRequests, codeThrottled, "")
}

// noteThrottle counts a violation and logs the 429 at debug level.
func (s *Sim) noteThrottle(t *tenantState, scope string, v verdict) {
	if v.violation {
		s.led.violations.Add(1)
	}
	if ce := s.log.Check(zap.DebugLevel, "throttled"); ce != nil {
		ce.Write(zap.String("tenant_id", t.id), zap.String("scope", scope), zap.Duration("retry_after", v.retryAfter),
			zap.Bool("violation", v.violation), zap.Duration("early_by", v.early))
	}
}

// graphFail answers a Graph error, which carries an innerError with the
// date and request ids.
func (s *Sim) graphFail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	reqID := uuid.NewString()
	clientID := r.Header.Get("client-request-id")
	if clientID == "" {
		clientID = reqID
	}
	w.Header()["Request-Id"] = []string{reqID}
	w.Header()["Client-Request-Id"] = []string{clientID}
	inner := &innerError{Date: s.now().UTC().Format(time.RFC3339), RequestID: reqID, ClientRequestID: clientID}
	s.reply(w, r, status, contentTypeGraph, marshalError(code, message, inner), true)
}

func (s *Sim) graphThrottle(w http.ResponseWriter, r *http.Request, t *tenantState, v verdict) {
	scope := "graph_post"
	if v.refusedBy == t.graphGet {
		scope = "graph_get"
	}
	s.noteThrottle(t, scope, v)
	w.Header()["Retry-After"] = []string{retryAfterHeader(v.retryAfter)}
	s.graphFail(w, r, http.StatusTooManyRequests, "TooManyRequests",
		"Too many requests: the application exceeded the limit for installedApps requests in this tenant.")
}

// aadError answers like Entra ID's token endpoint.
func (s *Sim) aadError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, description string) {
	trace, corr := uuid.NewString(), uuid.NewString()
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	body, _ := json.Marshal(struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
		ErrorURI         string `json:"error_uri"`
	}{
		Error:            code,
		ErrorDescription: "AADSTS" + strconv.Itoa(aadsts) + ": " + description + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts,
		ErrorCodes:       []int{aadsts},
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    corr,
		ErrorURI:         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(aadsts),
	})
	w.Header()["Cache-Control"] = []string{"no-store, no-cache"}
	s.reply(w, r, status, contentTypeJSON, body, false)
}
