package teamsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The simulator as the console's identity provider: Entra ID's OpenID
// Connect endpoints for a tenant, under /login/{tenant}/ as Entra has
// them under https://login.microsoftonline.com/{tenant}/.
//
//	GET  /login/{tenant}/v2.0/.well-known/openid-configuration  discovery
//	GET  /login/{tenant}/discovery/v2.0/keys                    the signing keys (JWKS)
//	GET  /login/{tenant}/oauth2/v2.0/authorize                  a page listing the users to sign in as
//	POST /login/{tenant}/oauth2/v2.0/authorize                  the pick: redirect with a code
//	POST /login/{tenant}/oauth2/v2.0/token                      grant_type=authorization_code
//
// The client is the bot's app registration (BotAppID, BotAppPassword). A
// code is for one client and redirect URI, used once, within
// idpCodeTTL, and PKCE (S256) is required. The ID token has Entra's claims
// (iss, aud, sub, oid, tid, preferred_username, name, nonce) and the app
// roles of the user in roles: see IdPAccounts.

const (
	idpCodeTTL  = 5 * time.Minute
	idpTokenTTL = time.Hour
)

// idpRoles are the app roles of the tenant's first users, in order: the
// accounts the authorize page offers. The last has no role (a console
// refuses it).
var idpRoles = [][]string{{"admin"}, {"author"}, {"author"}, {"approver"}, {"viewer"}, nil}

// IdPAccount is a user the identity provider offers to sign in as.
type IdPAccount struct {
	ID, UPN, DisplayName string
	Roles                []string
}

// idp is the identity provider's state.
type idp struct {
	key botKey // its own signing key, apart from the Bot Framework's

	mu    sync.Mutex
	codes map[string]idpCode
	roles map[string][]string // by tenant/upn, lower case: SetIdPRoles
}

type idpCode struct {
	tenant, clientID, redirect, challenge, nonce string
	user                                         IdPAccount
	expires                                      time.Time
}

func (s *Sim) idpRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /login/{tenant}/v2.0/.well-known/openid-configuration", s.handleIdPMetadata)
	m.HandleFunc("GET /login/{tenant}/discovery/v2.0/keys", s.handleIdPKeys)
	m.HandleFunc("GET /login/{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	m.HandleFunc("POST /login/{tenant}/oauth2/v2.0/authorize", s.handleAuthorizePick)
}

// IdPIssuer is the issuer of the ID tokens of tenant, for a simulator at base.
func IdPIssuer(base, tenant string) string { return base + "/login/" + tenant + "/v2.0" }

// IdPAccounts are the users of tenant the authorize page offers: its
// first users, with the roles idpRoles gives them unless SetIdPRoles
// changed them.
func (s *Sim) IdPAccounts(tenant string) []IdPAccount {
	t, ok := s.tenant(tenant)
	if !ok {
		return nil
	}
	t.dir.RLock()
	n := min(len(idpRoles), len(t.users))
	out := make([]IdPAccount, n)
	for i := range n {
		u := t.users[i]
		u.mu.Lock()
		out[i] = IdPAccount{ID: u.u.ID, UPN: u.u.UPN, DisplayName: u.u.DisplayName, Roles: idpRoles[i]}
		u.mu.Unlock()
	}
	t.dir.RUnlock()
	s.idp.mu.Lock()
	defer s.idp.mu.Unlock()
	for i := range out {
		if r, ok := s.idp.roles[t.id+"/"+strings.ToLower(out[i].UPN)]; ok {
			out[i].Roles = r
		}
	}
	return out
}

// SetIdPRoles sets the app roles of the account upn of tenant (one of
// IdPAccounts): tests sign in with the roles they need.
func (s *Sim) SetIdPRoles(tenant, upn string, roles ...string) {
	t, ok := s.tenant(tenant)
	if !ok {
		return
	}
	s.idp.mu.Lock()
	defer s.idp.mu.Unlock()
	if s.idp.roles == nil {
		s.idp.roles = map[string][]string{}
	}
	s.idp.roles[t.id+"/"+strings.ToLower(upn)] = roles
}

func (s *Sim) handleIdPMetadata(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tenant(r.PathValue("tenant"))
	if !ok {
		controlError(w, http.StatusBadRequest, "unknown tenant")
		return
	}
	base := s.publicBase(r) + "/login/" + t.id
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                IdPIssuer(s.publicBase(r), t.id),
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username", "oid", "tid", "roles"},
		"tenant_region_scope":                   "WW",
	})
}

func (s *Sim) handleIdPKeys(w http.ResponseWriter, _ *http.Request) {
	key, kid, err := s.idp.key.get()
	if err != nil {
		controlError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
}

// authorizeRequest is an authorization request's parameters, checked.
type authorizeRequest struct {
	Tenant, ClientID, RedirectURI, State, Nonce, Challenge, Scope string
}

// checkAuthorize reads q. A bad client or redirect URI is answered on
// the page (Entra never redirects to an unregistered URI); the other
// problems are redirected to the client as error=invalid_request.
func (s *Sim) checkAuthorize(w http.ResponseWriter, r *http.Request, q url.Values) (authorizeRequest, bool) {
	t, ok := s.tenant(r.PathValue("tenant"))
	a := authorizeRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Nonce: q.Get("nonce"), Challenge: q.Get("code_challenge"), Scope: q.Get("scope")}
	u, err := url.Parse(a.RedirectURI)
	switch {
	case !ok:
		http.Error(w, "AADSTS90002: tenant not found", http.StatusBadRequest)
		return a, false
	case !strings.EqualFold(a.ClientID, s.cfg.BotAppID):
		http.Error(w, "AADSTS700016: application "+a.ClientID+" was not found in the directory", http.StatusBadRequest)
		return a, false
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		http.Error(w, "AADSTS50011: the redirect URI is not a registered http(s) URL", http.StatusBadRequest)
		return a, false
	}
	a.Tenant = t.id
	var problem string
	switch {
	case q.Get("response_type") != "code":
		problem = "response_type must be code"
	case !slices.Contains(strings.Fields(a.Scope), "openid"):
		problem = "scope must include openid"
	case a.Challenge == "" || q.Get("code_challenge_method") != "S256":
		problem = "AADSTS9002325: Proof Key for Code Exchange is required (code_challenge with code_challenge_method=S256)"
	}
	if problem != "" {
		redirectError(w, r, a, "invalid_request", problem)
		return a, false
	}
	return a, true
}

func redirectError(w http.ResponseWriter, r *http.Request, a authorizeRequest, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}}
	if a.State != "" {
		v.Set("state", a.State)
	}
	http.Redirect(w, r, a.RedirectURI+"?"+v.Encode(), http.StatusFound)
}

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · simulated Entra ID</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem;color:#1f1f1f}button{font:inherit;padding:.4rem .8rem;margin:.25rem 0;background:#0f6cbd;color:#fff;border:0;border-radius:4px;cursor:pointer}button:focus-visible{outline:3px solid #1f1f1f;outline-offset:2px}li{list-style:none}</style>
</head><body><main>
<h1>Pick an account</h1>
<p>The simulator signs you in as one of these users of tenant {{.Req.Tenant}}, with their app roles.</p>
<ul>{{range .Accounts}}<li><form method="post">
{{range $k, $v := $.Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<input type="hidden" name="upn" value="{{.UPN}}">
<button type="submit" data-upn="{{.UPN}}">{{.DisplayName}} ({{.UPN}}) · roles: {{range $i, $r := .Roles}}{{if $i}}, {{end}}{{$r}}{{else}}none{{end}}</button>
</form></li>{{end}}</ul>
</main></body></html>`))

func (s *Sim) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, ok := s.checkAuthorize(w, r, q)
	if !ok {
		return
	}
	hidden := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope", "response_type"} {
		hidden[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = authorizePage.Execute(w, map[string]any{"Req": a, "Accounts": s.IdPAccounts(a.Tenant), "Hidden": hidden})
}

func (s *Sim) handleAuthorizePick(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	a, ok := s.checkAuthorize(w, r, r.PostForm)
	if !ok {
		return
	}
	upn := r.PostForm.Get("upn")
	i := slices.IndexFunc(s.IdPAccounts(a.Tenant), func(u IdPAccount) bool { return strings.EqualFold(u.UPN, upn) })
	if i < 0 {
		redirectError(w, r, a, "access_denied", "AADSTS50034: the user account does not exist in the directory")
		return
	}
	user := s.IdPAccounts(a.Tenant)[i]
	code := randomCode()
	s.idp.mu.Lock()
	if s.idp.codes == nil {
		s.idp.codes = map[string]idpCode{}
	}
	now := s.now()
	for k, c := range s.idp.codes { // codes left unused expire
		if now.After(c.expires) {
			delete(s.idp.codes, k)
		}
	}
	s.idp.codes[code] = idpCode{tenant: a.Tenant, clientID: a.ClientID, redirect: a.RedirectURI, challenge: a.Challenge,
		nonce: a.Nonce, user: user, expires: now.Add(idpCodeTTL)}
	s.idp.mu.Unlock()
	v := url.Values{"code": {code}}
	if a.State != "" {
		v.Set("state", a.State)
	}
	http.Redirect(w, r, a.RedirectURI+"?"+v.Encode(), http.StatusSeeOther)
}

func randomCode() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleTokenGrant is the token endpoint: an authorization code for the
// identity provider, every other grant for handleToken.
func (s *Sim) handleTokenGrant(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == "authorization_code" {
		s.handleCodeToken(w, r)
		return
	}
	s.handleToken(w, r)
}

func (s *Sim) handleCodeToken(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = f.Get("client_id"), f.Get("client_secret")
	} else {
		clientID, _ = url.QueryUnescape(clientID)
		secret, _ = url.QueryUnescape(secret)
	}
	if !strings.EqualFold(clientID, s.cfg.BotAppID) || subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.BotAppPassword)) != 1 {
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided.")
		return
	}
	s.idp.mu.Lock()
	c, ok := s.idp.codes[f.Get("code")]
	delete(s.idp.codes, f.Get("code")) // used once, whatever comes next
	s.idp.mu.Unlock()
	verifier := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case !ok || s.now().After(c.expires) || !strings.EqualFold(c.tenant, r.PathValue("tenant")):
		s.aadError(w, r, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired or was already used.")
		return
	case !strings.EqualFold(c.clientID, clientID) || c.redirect != f.Get("redirect_uri"):
		s.aadError(w, r, http.StatusBadRequest, "invalid_grant", 50148, "The redirect_uri or client_id does not match the authorization request's.")
		return
	case f.Get("code_verifier") == "" ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(verifier[:])), []byte(c.challenge)) != 1:
		s.aadError(w, r, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		return
	}
	idToken, err := s.idToken(IdPIssuer(s.publicBase(r), c.tenant), c)
	if err != nil {
		controlError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(idpTokenTTL.Seconds()),
		"scope": "openid profile email", "access_token": randomCode(), "id_token": idToken})
}

func (s *Sim) idToken(issuer string, c idpCode) (string, error) {
	key, kid, err := s.idp.key.get()
	if err != nil {
		return "", fmt.Errorf("teamsim: identity provider key: %w", err)
	}
	now := s.now()
	claims := jwt.MapClaims{"iss": issuer, "aud": c.clientID, "sub": c.user.ID, "oid": c.user.ID, "tid": c.tenant,
		"preferred_username": c.user.UPN, "name": c.user.DisplayName, "ver": "2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(idpTokenTTL).Unix()}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	if len(c.user.Roles) > 0 {
		claims["roles"] = c.user.Roles
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = kid
	return t.SignedString(key)
}
