// Package botauth authenticates the activities the Bot Framework posts to
// the bot's messaging endpoint, as Microsoft documents it
// (bot-framework-rest-connector-authentication): the request carries
// "Authorization: Bearer <JWT>", signed RS256 by a key of the Bot
// Framework's key set, which the OpenID metadata names; the token's
// issuer is https://api.botframework.com, its audience the bot's app id,
// it has not expired (5 minutes of clock skew allowed), its signing key
// endorses the activity's channel when the key lists endorsements, and
// its serviceurl claim is the activity's serviceUrl.
//
// Only the configured metadata and key-set URLs are ever fetched: a
// metadata document naming another jwks_uri is refused. ServiceHosts is
// the allow-list of Teams hosts a serviceUrl may name, for inbound
// activities and the senders' configuration alike.
package botauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Microsoft's public cloud.
const (
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	DefaultJWKSURL           = "https://login.botframework.com/v1/.well-known/keys"
	DefaultIssuer            = "https://api.botframework.com"
)

// Errors a Validate error wraps: ErrUnauthorized for a missing or invalid
// token (answer 401), ErrForbidden for a valid token that does not cover
// the activity (answer 403).
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// maxTokenBytes bounds the bearer token read.
const maxTokenBytes = 16 << 10

// Config configures a Validator.
type Config struct {
	OpenIDMetadataURL string // default DefaultOpenIDMetadataURL
	JWKSURL           string // default DefaultJWKSURL
	Issuer            string // default DefaultIssuer
	AppID             string // the bot's app id: the audience; required
	// HTTP fetches the metadata and the keys; its redirects are not
	// followed. Default: a client with FetchTimeout.
	HTTP *http.Client
	// FetchTimeout bounds each fetch; default 10 s.
	FetchTimeout time.Duration
	// Refresh is the age at which the key set is fetched again; default
	// 24 h, as Microsoft advises.
	Refresh time.Duration
	// MinRefetch is the least time between two fetches, whatever unknown
	// key ids tokens name; default 5 min.
	MinRefetch time.Duration
	// Leeway is the clock skew allowed on exp and nbf; default 5 min.
	Leeway time.Duration
	Now    func() time.Time // default time.Now
	Logger *zap.Logger
}

// Activity is what a token is checked against.
type Activity struct {
	ServiceURL string
	ChannelID  string
}

// Claims are the checked claims of a valid token.
type Claims struct {
	jwt.RegisteredClaims
	ServiceURL string `json:"serviceurl"`
	// ServiceURLCamel is the same claim in the camel case some emulators send.
	ServiceURLCamel string `json:"serviceUrl"`
}

// Validator checks the bearer tokens of inbound activities. It is safe
// for concurrent use.
type Validator struct {
	keys   *keySet
	parser *jwt.Parser
}

// New returns a Validator; it fetches nothing until the first token.
func New(cfg Config) (*Validator, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("botauth: AppID is required")
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&cfg.OpenIDMetadataURL, DefaultOpenIDMetadataURL)
	def(&cfg.JWKSURL, DefaultJWKSURL)
	def(&cfg.Issuer, DefaultIssuer)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&cfg.FetchTimeout, 10*time.Second)
	defDur(&cfg.Refresh, 24*time.Hour)
	defDur(&cfg.MinRefetch, 5*time.Minute)
	defDur(&cfg.Leeway, 5*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	client := &http.Client{Timeout: cfg.FetchTimeout}
	if cfg.HTTP != nil {
		c := *cfg.HTTP
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ks := &keySet{metadataURL: cfg.OpenIDMetadataURL, jwksURL: cfg.JWKSURL, issuer: cfg.Issuer, client: client,
		refresh: cfg.Refresh, minRefetch: cfg.MinRefetch, timeout: cfg.FetchTimeout, now: cfg.Now, log: cfg.Logger,
		keys: map[string]signingKey{}}
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.AppID), jwt.WithLeeway(cfg.Leeway), jwt.WithExpirationRequired(), jwt.WithTimeFunc(cfg.Now))
	return &Validator{keys: ks, parser: p}, nil
}

// Validate checks the Authorization header of an activity's request. The
// error wraps ErrUnauthorized or ErrForbidden; it never contains the token.
func (v *Validator) Validate(ctx context.Context, authorization string, a Activity) (*Claims, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthorized)
	}
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrUnauthorized, maxTokenBytes)
	}
	claims := &Claims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid in the token header")
		}
		k, err := v.keys.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if !k.endorses(a.ChannelID) {
			return nil, fmt.Errorf("key %q does not endorse channel %q", kid, a.ChannelID)
		}
		return k.pub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	claimed := claims.ServiceURL
	if claimed == "" {
		claimed = claims.ServiceURLCamel
	}
	if claimed == "" {
		return nil, fmt.Errorf("%w: no serviceurl claim", ErrUnauthorized)
	}
	if !sameServiceURL(claimed, a.ServiceURL) {
		return nil, fmt.Errorf("%w: the token's serviceurl %q is not the activity's %q", ErrForbidden, claimed, a.ServiceURL)
	}
	return claims, nil
}

// sameServiceURL compares two serviceUrls, ignoring a trailing slash and
// the case of the scheme and host.
func sameServiceURL(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimRight(s, "/")
		if i := strings.Index(s, "://"); i >= 0 {
			rest := s[i+3:]
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				j = len(rest)
			}
			return strings.ToLower(s[:i+3]+rest[:j]) + rest[j:]
		}
		return s
	}
	return b != "" && norm(a) == norm(b)
}
