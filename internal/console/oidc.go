package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/broadcast-dev/broadcast/internal/auth"
)

// identity is the OpenID Connect provider (Entra ID, or the simulator),
// discovered on first use: a dispatcher whose identity provider is down
// still serves its API, and its console signs people in once the
// provider answers.
type identity struct {
	issuer, clientID, secret, redirect string
	client                             *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

// get returns the verifier of ID tokens and the OAuth2 client, after the
// provider's discovery document.
func (id *identity) get(ctx context.Context) (*oidc.IDTokenVerifier, *oauth2.Config, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.verifier != nil {
		return id.verifier, id.oauth, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, id.client), id.issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover the identity provider %s: %w", id.issuer, err)
	}
	id.verifier = p.Verifier(&oidc.Config{ClientID: id.clientID})
	id.oauth = &oauth2.Config{ClientID: id.clientID, ClientSecret: id.secret, Endpoint: p.Endpoint(),
		RedirectURL: id.redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	return id.verifier, id.oauth, nil
}

// claims are the ID token's claims the console reads. Entra ID puts the
// app roles assigned to the user (or to a group of theirs) in roles.
type claims struct {
	PreferredUsername string   `json:"preferred_username"`
	Name              string   `json:"name"`
	Tenant            string   `json:"tid"`
	Roles             []string `json:"roles"`
}

// roleOf maps the values of the roles claim to the API's role: the
// highest of viewer, author, approver and admin named. ok is false when no
// value is a role.
func roleOf(values []string) (r auth.Role, ok bool) {
	for _, v := range values {
		got, err := auth.ParseRole(strings.ToLower(strings.TrimSpace(v)))
		if err != nil {
			continue
		}
		r, ok = max(r, got), true
	}
	return r, ok
}

// signIn sends the browser to the identity provider, with a new state,
// nonce and PKCE verifier; the state is also kept in a cookie, so that
// only the browser that started a sign-in can finish it.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	_, oc, err := c.idp.get(r.Context())
	if err != nil {
		c.log.Error("sign-in: identity provider unavailable", zap.Error(err))
		c.page(w, r, nil, http.StatusServiceUnavailable, "error", errorPage{Title: "Sign-in is unavailable",
			Message: "The identity provider does not answer. Try again in a minute."})
		return
	}
	state, nonce, verifier := randomToken(24), randomToken(24), oauth2.GenerateVerifier()
	l := loginState{Verifier: verifier, Nonce: nonce, ReturnTo: localPath(r.URL.Query().Get("next"))}
	if err := c.sessions.startLogin(r.Context(), state, l); err != nil {
		c.unavailable(w, r, nil, err)
		return
	}
	c.cookies.set(w, "login", state, loginTTL)
	http.Redirect(w, r, oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback finishes a sign-in: the code is exchanged with the PKCE
// verifier, the ID token verified (signature, issuer, audience, expiry,
// nonce), and a session made for a user with a role.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	refuse := func(msg string) {
		c.page(w, r, nil, http.StatusBadRequest, "error", errorPage{Title: "Sign-in failed", Message: msg, SignIn: true})
	}
	if e := q.Get("error"); e != "" {
		refuse("The identity provider answered " + clip(e, 64) + ": " + clip(q.Get("error_description"), 300))
		return
	}
	state := q.Get("state")
	cookieState := c.cookies.get(r, "login")
	c.cookies.clear(w, "login")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) != 1 {
		refuse("This sign-in was not started in this browser, or took too long. Sign in again.")
		return
	}
	l, err := c.sessions.finishLogin(r.Context(), state)
	if errors.Is(err, errNoSession) {
		refuse("This sign-in was used already, or took too long. Sign in again.")
		return
	}
	if err != nil {
		c.unavailable(w, r, nil, err)
		return
	}
	verifier, oc, err := c.idp.get(r.Context())
	if err != nil {
		c.unavailable(w, r, nil, err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.idp.client)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		c.log.Info("sign-in refused: code exchange failed", zap.Error(err))
		refuse("The identity provider did not accept this sign-in. Sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.Nonce)) != 1 {
		c.log.Info("sign-in refused: ID token not valid", zap.Error(err))
		refuse("The identity provider's token is not valid for this console. Sign in again.")
		return
	}
	var cl claims
	if err := idt.Claims(&cl); err != nil || cl.PreferredUsername == "" || len(cl.PreferredUsername) > 256 {
		refuse("The identity provider's token names no user.")
		return
	}
	role, ok := roleOf(cl.Roles)
	if !ok {
		c.log.Info("sign-in refused: no console role", zap.String("user", cl.PreferredUsername), zap.String("tenant_id", cl.Tenant))
		c.page(w, r, nil, http.StatusForbidden, "error", errorPage{Title: "No access",
			Message: cl.PreferredUsername + " has no role in this console. Ask an administrator to assign you one of the app roles viewer, author, approver or admin."})
		return
	}
	s := &session{Name: cl.PreferredUsername, DisplayName: cl.Name, Subject: idt.Subject, Tenant: cl.Tenant, Role: role, Roles: cl.Roles}
	if old := c.cookies.get(r, "session"); old != "" {
		_ = c.sessions.delete(r.Context(), old) // a new sign-in replaces the browser's session; it would expire anyway
	}
	id, err := c.sessions.create(r.Context(), s)
	if err != nil {
		c.unavailable(w, r, nil, err)
		return
	}
	c.log.Info("signed in", zap.String("user", s.Name), zap.String("role", role.String()), zap.String("tenant_id", s.Tenant))
	c.cookies.set(w, "session", id, c.sessions.ttl)
	http.Redirect(w, r, l.ReturnTo, http.StatusSeeOther)
}

// signOut ends the session everywhere (it is deleted from Redis).
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.sessions.delete(r.Context(), c.cookies.get(r, "session")); err != nil {
		c.unavailable(w, r, s, err)
		return
	}
	c.cookies.clear(w, "session")
	c.log.Info("signed out", zap.String("user", s.Name))
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
}

// localPath is p if it is a path of this console, else "/": a sign-in
// never sends the browser elsewhere.
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return p
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// httpTimeout bounds each call to the identity provider.
const httpTimeout = 10 * time.Second
