package botauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/testenv"
)

const (
	appID      = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
	serviceURL = "https://smba.trafficmanager.net/teams/"
)

var (
	keysOnce sync.Once
	testKeys []*rsa.PrivateKey
)

// rsaKeys returns three 2048-bit keys, generated once per test binary.
func rsaKeys(t *testing.T) []*rsa.PrivateKey {
	keysOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k)
		}
	})
	return testKeys
}

// publishedKey is a key the test JWKS serves.
type publishedKey struct {
	kid          string
	key          *rsa.PrivateKey
	endorsements []string
}

// issuerServer serves OpenID metadata and a JWKS, counting requests.
type issuerServer struct {
	srv              *httptest.Server
	metadataN, jwksN atomic.Int64
	mu               sync.Mutex
	keys             []publishedKey
	jwksURIOverride  string
}

func newIssuer(t *testing.T, keys ...publishedKey) *issuerServer {
	is := &issuerServer{keys: keys}
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/.well-known/openidconfiguration", func(w http.ResponseWriter, _ *http.Request) {
		is.metadataN.Add(1)
		uri := is.srv.URL + "/v1/.well-known/keys"
		if is.jwksURIOverride != "" {
			uri = is.jwksURIOverride
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": DefaultIssuer, "jwks_uri": uri,
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	m.HandleFunc("GET /v1/.well-known/keys", func(w http.ResponseWriter, _ *http.Request) {
		is.jwksN.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		var out []map[string]any
		for _, k := range is.keys {
			j := map[string]any{"kty": "RSA", "use": "sig", "kid": k.kid,
				"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes())}
			if k.endorsements != nil {
				j["endorsements"] = k.endorsements
			}
			out = append(out, j)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": out})
	})
	is.srv = httptest.NewServer(m)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuerServer) publish(keys ...publishedKey) {
	is.mu.Lock()
	is.keys = keys
	is.mu.Unlock()
}

func (is *issuerServer) metadataURL() string {
	return is.srv.URL + "/v1/.well-known/openidconfiguration"
}
func (is *issuerServer) jwksURL() string { return is.srv.URL + "/v1/.well-known/keys" }

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	is    *issuerServer
	v     *Validator
	clock *clock
	keys  []*rsa.PrivateKey
}

func setup(t *testing.T) *bundle {
	t.Helper()
	keys := rsaKeys(t)
	is := newIssuer(t, publishedKey{kid: "k1", key: keys[0], endorsements: []string{"msteams", "skype"}})
	c := &clock{now: time.Now()}
	v, err := New(Config{OpenIDMetadataURL: is.metadataURL(), JWKSURL: is.jwksURL(), AppID: appID,
		Now: c.Now, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	return &bundle{is: is, v: v, clock: c, keys: keys}
}

// claims are a good token's claims at now.
func (b *bundle) claims() jwt.MapClaims {
	now := b.clock.Now()
	return jwt.MapClaims{"iss": DefaultIssuer, "aud": appID, "exp": now.Add(time.Hour).Unix(),
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "serviceurl": serviceURL}
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func (b *bundle) validate(token string) error {
	_, err := b.v.Validate(context.Background(), "Bearer "+token, Activity{ServiceURL: serviceURL, ChannelID: "msteams"})
	return err
}

func TestValidatorAcceptsAGoodToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := b.v.Validate(context.Background(), "Bearer "+sign(t, b.keys[0], "k1", b.claims()),
		Activity{ServiceURL: "https://SMBA.trafficmanager.net/teams", ChannelID: "msteams"})
	require.NoError(t, err)
	require.Equal(t, serviceURL, c.ServiceURL)
	require.EqualValues(t, 1, b.is.metadataN.Load())
	require.EqualValues(t, 1, b.is.jwksN.Load())

	// The keys are cached.
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	require.EqualValues(t, 1, b.is.jwksN.Load())
}

func TestValidatorRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	with := func(k string, v any) jwt.MapClaims {
		c := b.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	now := b.clock.Now()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, b.claims())
	hs.Header["kid"] = "k1"
	// The classic confusion: the RSA public key used as an HMAC secret.
	hsToken, err := hs.SignedString(b.keys[0].PublicKey.N.Bytes())
	require.NoError(t, err)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, b.claims())
	none.Header["kid"] = "k1"
	noneToken, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	ps := jwt.NewWithClaims(jwt.SigningMethodPS256, b.claims())
	ps.Header["kid"] = "k1"
	psToken, err := ps.SignedString(b.keys[0])
	require.NoError(t, err)

	for name, token := range map[string]string{
		"wrong issuer":            sign(t, b.keys[0], "k1", with("iss", "https://sts.windows.net/evil/")),
		"no issuer":               sign(t, b.keys[0], "k1", with("iss", nil)),
		"wrong audience":          sign(t, b.keys[0], "k1", with("aud", "another-bot")),
		"no audience":             sign(t, b.keys[0], "k1", with("aud", nil)),
		"expired beyond the skew": sign(t, b.keys[0], "k1", with("exp", now.Add(-5*time.Minute-30*time.Second).Unix())),
		"no expiry":               sign(t, b.keys[0], "k1", with("exp", nil)),
		"not yet valid":           sign(t, b.keys[0], "k1", with("nbf", now.Add(6*time.Minute).Unix())),
		"bad signature":           sign(t, b.keys[1], "k1", b.claims()),
		"unknown key id":          sign(t, b.keys[1], "k2", b.claims()),
		"no key id":               sign(t, b.keys[0], "", b.claims()),
		"HS256":                   hsToken,
		"alg none":                noneToken,
		"PS256":                   psToken,
		"no serviceurl claim":     sign(t, b.keys[0], "k1", with("serviceurl", nil)),
		"garbage":                 "not.a.jwt",
	} {
		err := b.validate(token)
		require.ErrorIs(t, err, ErrUnauthorized, name)
		require.NotContains(t, err.Error(), token, name)
	}
	for name, authz := range map[string]string{"no header": "", "basic": "Basic dXNlcjpwYXNz", "empty bearer": "Bearer "} {
		_, err := b.v.Validate(context.Background(), authz, Activity{ServiceURL: serviceURL, ChannelID: "msteams"})
		require.ErrorIs(t, err, ErrUnauthorized, name)
	}
}

func TestValidatorAllowsFiveMinutesOfSkew(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.claims()
	c["exp"] = b.clock.Now().Add(-4 * time.Minute).Unix()
	c["nbf"] = b.clock.Now().Add(4 * time.Minute).Unix()
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", c)))
}

func TestValidatorForbidsAnotherServiceURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.claims()
	c["serviceurl"] = "https://smba.infra.gcc.teams.microsoft.com/teams"
	err := b.validate(sign(t, b.keys[0], "k1", c))
	require.ErrorIs(t, err, ErrForbidden)
	require.NotErrorIs(t, err, ErrUnauthorized)
}

func TestValidatorHonoursEndorsements(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.is.publish(publishedKey{kid: "k1", key: b.keys[0], endorsements: []string{"skype"}})
	err := b.validate(sign(t, b.keys[0], "k1", b.claims()))
	require.ErrorIs(t, err, ErrUnauthorized)
	require.Contains(t, err.Error(), "does not endorse")
}

func TestValidatorFetchesARotatedKeyOnceAndRateLimitsUnknownKids(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	require.EqualValues(t, 1, b.is.jwksN.Load())

	// Microsoft rotates: k2 appears. The first token naming it fetches the
	// set again (the last fetch is older than the minimum interval).
	b.is.publish(publishedKey{kid: "k1", key: b.keys[0]}, publishedKey{kid: "k2", key: b.keys[1]})
	b.clock.Advance(6 * time.Minute)
	require.NoError(t, b.validate(sign(t, b.keys[1], "k2", b.claims())))
	require.EqualValues(t, 2, b.is.jwksN.Load())
	require.NoError(t, b.validate(sign(t, b.keys[1], "k2", b.claims())))
	require.EqualValues(t, 2, b.is.jwksN.Load(), "a known kid is not fetched again")

	// A flood of made-up kids, concurrently, within one interval: at most
	// one fetch (here none: the last one was just now).
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.ErrorIs(t, b.validate(sign(t, b.keys[2], "bogus-"+string(rune('a'+i%26)), b.claims())), ErrUnauthorized)
		}()
	}
	wg.Wait()
	require.EqualValues(t, 2, b.is.jwksN.Load())

	// After the interval, the flood costs exactly one fetch.
	b.clock.Advance(5 * time.Minute)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.ErrorIs(t, b.validate(sign(t, b.keys[2], "flood-"+string(rune('a'+i%26)), b.claims())), ErrUnauthorized)
		}()
	}
	wg.Wait()
	require.EqualValues(t, 3, b.is.jwksN.Load())
	require.EqualValues(t, 3, b.is.metadataN.Load())
}

func TestValidatorRefreshesTheKeysDaily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	b.clock.Advance(23 * time.Hour)
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	require.EqualValues(t, 1, b.is.jwksN.Load())

	// A day on, k1 is retired: the scheduled refresh drops it.
	b.is.publish(publishedKey{kid: "k2", key: b.keys[1]})
	b.clock.Advance(time.Hour)
	require.ErrorIs(t, b.validate(sign(t, b.keys[0], "k1", b.claims())), ErrUnauthorized)
	require.EqualValues(t, 2, b.is.jwksN.Load())
	require.NoError(t, b.validate(sign(t, b.keys[1], "k2", b.claims())))
	require.EqualValues(t, 2, b.is.jwksN.Load())
}

func TestValidatorKeepsItsKeysWhenARefreshFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	b.is.publish() // an empty set: not usable
	b.clock.Advance(25 * time.Hour)
	require.NoError(t, b.validate(sign(t, b.keys[0], "k1", b.claims())))
	require.EqualValues(t, 2, b.is.jwksN.Load())
}

func TestValidatorRefusesAMetadataNamingAnotherKeySet(t *testing.T) {
	t.Parallel()
	keys := rsaKeys(t)
	var evilN atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { evilN.Add(1) }))
	t.Cleanup(evil.Close)
	is := newIssuer(t, publishedKey{kid: "k1", key: keys[0]})
	is.jwksURIOverride = evil.URL + "/keys"
	v, err := New(Config{OpenIDMetadataURL: is.metadataURL(), JWKSURL: is.jwksURL(), AppID: appID, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	b := &bundle{is: is, v: v, clock: &clock{now: time.Now()}, keys: keys}
	err = b.validate(sign(t, keys[0], "k1", b.claims()))
	require.ErrorIs(t, err, ErrUnauthorized)
	require.EqualValues(t, 1, is.metadataN.Load())
	require.Zero(t, is.jwksN.Load(), "the configured key set is not fetched either")
	require.Zero(t, evilN.Load(), "the URL the metadata names is never fetched")
}

func TestValidatorDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	keys := rsaKeys(t)
	is := newIssuer(t, publishedKey{kid: "k1", key: keys[0]})
	redirect := httptest.NewServer(http.RedirectHandler(is.metadataURL(), http.StatusFound))
	t.Cleanup(redirect.Close)
	v, err := New(Config{OpenIDMetadataURL: redirect.URL, JWKSURL: is.jwksURL(), AppID: appID, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	b := &bundle{is: is, v: v, clock: &clock{now: time.Now()}, keys: keys}
	require.ErrorIs(t, b.validate(sign(t, keys[0], "k1", b.claims())), ErrUnauthorized)
	require.Zero(t, is.metadataN.Load())
	require.Zero(t, is.jwksN.Load())
}

func TestValidatorBoundsTheKeySetBody(t *testing.T) {
	t.Parallel()
	keys := rsaKeys(t)
	var jwks *httptest.Server
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": DefaultIssuer, "jwks_uri": jwks.URL})
	}))
	t.Cleanup(meta.Close)
	jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		_, _ = w.Write(make([]byte, maxKeySetBytes))
	}))
	t.Cleanup(jwks.Close)
	v, err := New(Config{OpenIDMetadataURL: meta.URL, JWKSURL: jwks.URL, AppID: appID, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	b := &bundle{v: v, clock: &clock{now: time.Now()}, keys: keys}
	err = b.validate(sign(t, keys[0], "k1", b.claims()))
	require.ErrorIs(t, err, ErrUnauthorized)
}
