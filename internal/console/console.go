package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Config configures the console.
type Config struct {
	// PublicURL is the console's URL as browsers reach it (CONSOLE_URL);
	// the redirect URI registered with the identity provider is PublicURL
	// + CallbackPath.
	PublicURL string
	// Issuer is the OpenID Connect issuer (CONSOLE_OIDC_ISSUER), such as
	// https://login.microsoftonline.com/<tenant>/v2.0; ClientID and
	// ClientSecret the console's app registration.
	Issuer, ClientID, ClientSecret string
	// InsecureCookies drops the cookies' Secure attribute, for a demo over
	// plain http on one machine (CONSOLE_INSECURE_COOKIES); never in
	// production.
	InsecureCookies bool
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
	// Tenant is the tenant whose unreachable users the console shows.
	Tenant string
	// LiveInterval is how often a watched broadcast's counters are read
	// (default 1s), whatever the number of people watching.
	LiveInterval time.Duration
}

// CallbackPath is where the identity provider sends the browser back.
const CallbackPath = "/auth/callback"

func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("CONSOLE_URL: %q is not an http(s) URL", c.PublicURL))
	case u.Scheme == "http" && !c.InsecureCookies:
		errs = append(errs, errors.New("CONSOLE_URL: an http:// console needs CONSOLE_INSECURE_COOKIES=true (a demo on one machine); serve it over https otherwise"))
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("CONSOLE_OIDC_ISSUER: required"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("CONSOLE_OIDC_CLIENT_ID: required"))
	}
	if c.Tenant == "" {
		errs = append(errs, errors.New("console: no tenant"))
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.LiveInterval <= 0 {
		c.LiveInterval = time.Second
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	return errors.Join(errs...)
}

// Console serves the web console. Close stops its live feeds.
type Console struct {
	cfg      Config
	api      *api.Server
	store    *store.Store
	sessions *sessions
	cookies  cookies
	idp      *identity
	live     *hub
	pages    pages
	log      *zap.Logger
	handler  http.Handler
}

// New returns the console of the API a. The identity provider is
// discovered on the first sign-in.
func New(cfg Config, a *api.Server, st *store.Store, log *zap.Logger) (*Console, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, api: a, store: st, log: log, pages: p,
		sessions: &sessions{rdb: st.Client(), ks: st.Keyspace, ttl: cfg.SessionTTL},
		cookies:  cookies{insecure: cfg.InsecureCookies},
		idp: &identity{issuer: cfg.Issuer, clientID: cfg.ClientID, secret: cfg.ClientSecret,
			redirect: cfg.PublicURL + CallbackPath, client: &http.Client{Timeout: httpTimeout}},
		live: newHub(st, cfg.LiveInterval, log.Named("live")),
	}
	c.handler = c.routes()
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Close ends the live feeds (their streams close) and waits for their
// pollers: call it before the server's Shutdown, which would wait for
// the streams otherwise.
func (c *Console) Close() { c.live.close() }

func (c *Console) routes() http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	m.HandleFunc("GET /signin", c.signIn)
	m.HandleFunc("GET "+CallbackPath, c.callback)
	m.HandleFunc("GET /signed-out", func(w http.ResponseWriter, r *http.Request) {
		c.page(w, r, nil, http.StatusOK, "signedout", nil)
	})
	m.HandleFunc("POST /signout", c.authed(c.signOut))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/broadcasts", http.StatusFound)
	})
	m.HandleFunc("GET /broadcasts", c.authed(c.broadcasts))
	m.HandleFunc("GET /compose", c.authed(c.compose))
	m.HandleFunc("POST /compose", c.authed(c.createCompose))
	m.HandleFunc("POST /compose/preview", c.authed(c.previewToSelf))
	m.HandleFunc("POST /compose/render", c.authed(c.renderCompose))
	m.HandleFunc("POST /compose/size", c.authed(c.audienceSize))
	m.HandleFunc("GET /compose/groups", c.authed(c.findGroups))
	m.HandleFunc("GET /broadcasts/{id}", c.authed(c.broadcast))
	m.HandleFunc("GET /broadcasts/{id}/export", c.authed(c.export))
	m.HandleFunc("GET /broadcasts/{id}/live", c.authed(c.liveFeed))
	m.HandleFunc("GET /broadcasts/{id}/cancel", c.authed(c.confirmCancel))
	m.HandleFunc("POST /broadcasts/{id}/cancel", c.authed(c.cancel))
	m.HandleFunc("GET /broadcasts/{id}/edit", c.authed(c.confirmEdit))
	m.HandleFunc("POST /broadcasts/{id}/edit", c.authed(c.edit))
	m.HandleFunc("GET /broadcasts/{id}/recall", c.authed(c.confirmRecall))
	m.HandleFunc("POST /broadcasts/{id}/recall", c.authed(c.recall))
	m.HandleFunc("GET /approvals", c.authed(c.approvals))
	m.HandleFunc("POST /broadcasts/{id}/approve", c.authed(c.approve))
	m.HandleFunc("POST /broadcasts/{id}/reject", c.authed(c.reject))
	m.HandleFunc("GET /unreachable", c.authed(c.unreachable))
	m.HandleFunc("GET /audit", c.authed(c.audit))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.page(w, r, nil, http.StatusNotFound, "error", errorPage{Title: "Not found", Message: "This page does not exist."})
	})
	return securityHeaders(http.NewCrossOriginProtection().Handler(m))
}

// securityHeaders: no framing, no sniffing, scripts and styles from the
// console only.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// authed serves h to a signed-in user: a page asks a user without a
// session to sign in; a state-changing request must carry the session's
// CSRF token (csrf.go). What the user may do is the API's to decide.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.sessions.get(r.Context(), c.cookies.get(r, "session"))
		switch {
		case errors.Is(err, errNoSession):
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
				return
			}
			c.page(w, r, nil, http.StatusUnauthorized, "error", errorPage{Title: "Signed out",
				Message: "Your session has ended: sign in again.", SignIn: true})
			return
		case err != nil:
			c.unavailable(w, r, nil, err)
			return
		}
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, api.MaxUploadBytes) // a compose with its CSV at most
		}
		if !safeMethod(r.Method) && !validCSRF(r, s) {
			c.log.Info("request refused: no valid CSRF token", zap.String("user", s.Name), zap.String("path", r.URL.Path))
			c.page(w, r, s, http.StatusForbidden, "error", errorPage{Title: "Request refused",
				Message: "This form has expired or did not come from the console. Reload the page and try again."})
			return
		}
		h(w, r, s)
	}
}

// unavailable answers 503 for a failure of Redis or the identity provider.
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.log.Error("console request failed", zap.String("path", r.URL.Path), zap.Error(err))
	w.Header().Set("Retry-After", "5")
	c.page(w, r, s, http.StatusServiceUnavailable, "error", errorPage{Title: "Unavailable",
		Message: "The service cannot complete the request now; try again in a moment."})
}

// NewHTTPServer returns an http.Server for the console. It has no write
// timeout: the live feeds are long; each of their writes has its own
// deadline (live.go), and the pages are rendered before they are written.
func NewHTTPServer(addr string, c *Console) *http.Server {
	return &http.Server{Addr: addr, Handler: c, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
}
