package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Redis keys of the console, all under one prefix. A session's key holds
// the hash of its id, never the id itself: whoever reads Redis cannot
// take over a session.
const keyPrefix = "console:"

func (ss *sessions) sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return ss.ks.Key(keyPrefix+"session:") + hex.EncodeToString(sum[:])
}

func (ss *sessions) loginKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return ss.ks.Key(keyPrefix+"login:") + hex.EncodeToString(sum[:])
}

// redisTimeout bounds every call the console makes to Redis.
const redisTimeout = 3 * time.Second

// session is a signed-in user.
type session struct {
	// Name is the actor the API and the audit log know the user by: the
	// ID token's preferred_username (the UPN in Entra ID).
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	// Subject and Tenant are the token's sub and tid.
	Subject string `json:"sub"`
	Tenant  string `json:"tid,omitempty"`
	// Role is what the API lets the user do; Roles are the claim's values,
	// shown on the page.
	Role  auth.Role `json:"role"`
	Roles []string  `json:"roles,omitempty"`
	// CSRF is the token every state-changing request must carry.
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

func (s *session) principal() auth.Principal { return auth.Principal{Name: s.Name, Role: s.Role} }

// loginState is what a sign-in remembers between the redirect to the
// identity provider and the callback.
type loginState struct {
	Verifier string `json:"verifier"` // PKCE
	Nonce    string `json:"nonce"`
	ReturnTo string `json:"returnTo"`
}

// loginTTL bounds the time a person may take at the identity provider.
const loginTTL = 10 * time.Minute

// sessions keeps sessions and sign-ins in Redis, so that any dispatcher
// serves any user and a sign-out ends the session everywhere.
type sessions struct {
	rdb redis.UniversalClient
	ks  store.Keyspace // the store's: the keys share its prefix
	ttl time.Duration
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create stores s under a new id, which it returns.
func (ss *sessions) create(ctx context.Context, s *session) (string, error) {
	id := randomToken(32)
	s.CSRF = randomToken(32)
	s.Expires = time.Now().Add(ss.ttl).UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := ss.rdb.Set(ctx, ss.sessionKey(id), b, ss.ttl).Err(); err != nil {
		return "", fmt.Errorf("save session: %w", err)
	}
	return id, nil
}

var errNoSession = errors.New("no session")

// get returns the session id names; errNoSession when there is none.
func (ss *sessions) get(ctx context.Context, id string) (*session, error) {
	if id == "" || len(id) > 64 {
		return nil, errNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	b, err := ss.rdb.Get(ctx, ss.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil || !s.Role.Valid() || time.Now().After(s.Expires) {
		return nil, errNoSession
	}
	return &s, nil
}

func (ss *sessions) delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	return ss.rdb.Del(ctx, ss.sessionKey(id)).Err()
}

// startLogin keeps l under state until the callback or loginTTL.
func (ss *sessions) startLogin(ctx context.Context, state string, l loginState) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	return ss.rdb.Set(ctx, ss.loginKey(state), b, loginTTL).Err()
}

// finishLogin returns and forgets the sign-in state names: a callback is
// taken once.
func (ss *sessions) finishLogin(ctx context.Context, state string) (loginState, error) {
	var l loginState
	if state == "" || len(state) > 128 {
		return l, errNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	b, err := ss.rdb.GetDel(ctx, ss.loginKey(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return l, errNoSession
	}
	if err != nil {
		return l, fmt.Errorf("read sign-in state: %w", err)
	}
	return l, json.Unmarshal(b, &l)
}

// cookies names and sets the console's cookies. Secure cookies take the
// __Host- prefix: the browser then refuses them over http, from another
// path or with a Domain.
type cookies struct{ insecure bool }

func (c cookies) name(base string) string {
	if c.insecure {
		return "console_" + base
	}
	return "__Host-console_" + base
}

func (c cookies) set(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: c.name(base), Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: !c.insecure, SameSite: http.SameSiteLaxMode})
}

func (c cookies) clear(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{Name: c.name(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: !c.insecure, SameSite: http.SameSiteLaxMode})
}

func (c cookies) get(r *http.Request, base string) string {
	ck, err := r.Cookie(c.name(base))
	if err != nil {
		return ""
	}
	return ck.Value
}
