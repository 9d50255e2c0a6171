package teamsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Scopes the token endpoint grants.
const (
	ScopeConnector = "https://api.botframework.com/.default"
	ScopeGraph     = "https://graph.microsoft.com/.default"
)

type audience uint8

const (
	audConnector audience = iota + 1
	audGraph
)

// grant is what the simulator remembers of an access token it issued.
type grant struct {
	aud     audience
	tenant  *tenantState  // nil for the botframework.com tenant
	expires time.Duration // since the sim's epoch
}

// sweepEvery issued tokens, expired ones are forgotten.
const sweepEvery = 256

// handleToken is Entra ID's client-credentials token endpoint:
// POST /login/{tenant}/oauth2/v2.0/token.
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindToken)
	if s.poster != nil {
		s.noteBase(r) // every client asks for a token first
	}
	tenantName := strings.ToLower(r.PathValue("tenant"))
	var tenant *tenantState
	if tenantName != ConnectorTenant {
		t, ok := s.tenants[tenantName]
		if !ok {
			s.aadError(w, r, http.StatusBadRequest, "invalid_request", 90002,
				fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenantName))
			return
		}
		tenant = t
	}
	if err := r.ParseForm(); err != nil {
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	missing := func(param string) {
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			fmt.Sprintf("The request body must contain the following parameter: '%s'.", param))
	}
	grantType, clientID, secret, scope := form.Get("grant_type"), form.Get("client_id"), form.Get("client_secret"), form.Get("scope")
	switch {
	case grantType == "":
		missing("grant_type")
		return
	case grantType != "client_credentials":
		s.aadError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", grantType))
		return
	case clientID == "":
		missing("client_id")
		return
	case !strings.EqualFold(clientID, s.cfg.BotAppID):
		s.aadError(w, r, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, tenantName))
		return
	case secret == "":
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.BotAppPassword)) != 1:
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.cfg.BotAppID))
		return
	case scope == "":
		missing("scope")
		return
	}
	var aud audience
	switch {
	case strings.EqualFold(scope, ScopeConnector):
		aud = audConnector
	case strings.EqualFold(scope, ScopeGraph):
		aud = audGraph
		if tenant == nil {
			s.aadError(w, r, http.StatusBadRequest, "invalid_resource", 500011,
				"The resource principal named https://graph.microsoft.com was not found in the tenant named botframework.com: ask for a Graph token in the users' tenant.")
			return
		}
	default:
		s.aadError(w, r, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := "sim." + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.clock()
	s.tokens.store(token, &grant{aud: aud, tenant: tenant, expires: now + s.cfg.TokenTTL})
	if s.issued.Add(1)%sweepEvery == 0 {
		s.tokens.deleteIf(func(g *grant) bool { return g.expires <= now })
	}
	ttl := strconv.FormatInt(int64(s.cfg.TokenTTL/time.Second), 10)
	body := `{"token_type":"Bearer","expires_in":` + ttl + `,"ext_expires_in":` + ttl + `,"access_token":"` + token + `"}`
	w.Header()["Cache-Control"] = []string{"no-store, no-cache"}
	s.reply(w, r, http.StatusOK, contentTypeJSON, []byte(body), false)
}

// authProblem says why a bearer token was refused.
type authProblem uint8

const (
	authOK authProblem = iota
	authMissing
	authUnknown
	authExpired
	authWrongAudience
)

// authorize checks the request's bearer token for aud.
func (s *Sim) authorize(r *http.Request, aud audience) (*grant, authProblem) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil, authMissing
	}
	g, ok := s.tokens.load(strings.TrimSpace(h[len(prefix):]))
	switch {
	case !ok:
		return nil, authUnknown
	case s.clock() >= g.expires:
		return nil, authExpired
	case g.aud != aud:
		return nil, authWrongAudience
	}
	return g, authOK
}

func (s *Sim) connectorUnauthorized(w http.ResponseWriter, r *http.Request, p authProblem) {
	msg := "Authorization has been denied for this request."
	switch p {
	case authExpired:
		msg += " The token has expired."
	case authWrongAudience:
		msg += " The token's audience is not the Bot Framework."
	case authMissing:
		msg += " No bearer token."
	}
	s.connectorFail(w, r, http.StatusUnauthorized, codeUnauthorized, msg)
}

func (s *Sim) graphUnauthorized(w http.ResponseWriter, r *http.Request, p authProblem) {
	msg := "Access token validation failure."
	switch p {
	case authMissing:
		msg = "Access token is empty."
	case authExpired:
		msg = "Access token has expired or is not yet valid."
	case authWrongAudience:
		msg = "Access token validation failure. Invalid audience."
	}
	w.Header()["Www-Authenticate"] = []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`}
	s.graphFail(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}
