package botauth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Bounds of a metadata or key-set fetch.
const (
	maxMetadataBytes = 64 << 10
	maxKeySetBytes   = 256 << 10
	minKeyBits       = 2048
)

// signingKey is one key of the key set.
type signingKey struct {
	pub *rsa.PublicKey
	// endorsements are the channels the key may sign for; empty means any.
	endorsements []string
}

// endorses reports whether the key may sign activities of channel.
func (k signingKey) endorses(channel string) bool {
	if len(k.endorsements) == 0 {
		return true
	}
	for _, e := range k.endorsements {
		if strings.EqualFold(e, channel) {
			return true
		}
	}
	return false
}

// keySet is the Bot Framework's signing keys, as the configured metadata
// names them. It fetches them on first use, again once they are older
// than refresh, and again when a token names an unknown key id, but never
// more often than once per minRefetch: a flood of tokens with made-up key
// ids costs at most one fetch per interval. Only the two configured URLs
// are ever fetched, and redirects are not followed.
type keySet struct {
	metadataURL, jwksURL, issuer string
	client                       *http.Client
	refresh, minRefetch, timeout time.Duration
	now                          func() time.Time
	log                          *zap.Logger

	fetch singleflight.Group // one fetch at a time, shared by its callers

	mu        sync.Mutex // guards the fields below
	keys      map[string]signingKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last fetch attempt
}

// key returns the key with id kid, fetching the set when it is unknown or
// stale and the rate limit allows.
func (ks *keySet) key(ctx context.Context, kid string) (signingKey, error) {
	k, ok, due := ks.lookup(kid)
	if ok && !due {
		return k, nil
	}
	if err := ks.refetch(ctx, kid); err != nil {
		ks.log.Warn("bot framework keys not fetched", zap.Error(err))
	}
	if k, ok, _ = ks.lookup(kid); ok {
		return k, nil
	}
	return signingKey{}, fmt.Errorf("unknown key id %q", kid)
}

// lookup returns the cached key and whether a fetch is due: the key is
// unknown, or the set is stale, and the last attempt is old enough.
func (ks *keySet) lookup(kid string) (signingKey, bool, bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k, ok := ks.keys[kid]
	now := ks.now()
	stale := ks.fetchedAt.IsZero() || now.Sub(ks.fetchedAt) >= ks.refresh
	allowed := ks.triedAt.IsZero() || now.Sub(ks.triedAt) >= ks.minRefetch
	return k, ok, (!ok || stale) && allowed
}

// refetch fetches the set unless another caller did meanwhile. Callers
// that come during a fetch share it, and each stops waiting when its
// context ends: the fetch outlives a caller that goes away, its result
// serves the next ones, and an abandoned fetch still counts as the attempt.
func (ks *keySet) refetch(ctx context.Context, kid string) error {
	ch := ks.fetch.DoChan("", func() (any, error) {
		if _, _, due := ks.lookup(kid); !due {
			return nil, nil // fetched (or tried) just before
		}
		ks.mu.Lock()
		ks.triedAt = ks.now()
		ks.mu.Unlock()
		keys, err := ks.download(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		ks.mu.Lock()
		ks.keys, ks.fetchedAt = keys, ks.now()
		ks.mu.Unlock()
		ks.log.Info("bot framework keys fetched", zap.Int("keys", len(keys)))
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// metadata is the part of the OpenID metadata document that is used.
type metadata struct {
	Issuer  string   `json:"issuer"`
	JWKSURI string   `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

type jwk struct {
	Kty          string   `json:"kty"`
	Use          string   `json:"use"`
	Alg          string   `json:"alg"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	Endorsements []string `json:"endorsements"`
}

// download reads the metadata, checks that it names the configured key
// set, and reads the key set.
func (ks *keySet) download(ctx context.Context) (map[string]signingKey, error) {
	var md metadata
	if err := ks.getJSON(ctx, ks.metadataURL, maxMetadataBytes, &md); err != nil {
		return nil, fmt.Errorf("openid metadata: %w", err)
	}
	if md.JWKSURI != ks.jwksURL {
		return nil, fmt.Errorf("openid metadata names jwks_uri %q, not the configured BOT_JWKS_URL %q: refused", md.JWKSURI, ks.jwksURL)
	}
	if md.Issuer != "" && md.Issuer != ks.issuer {
		return nil, fmt.Errorf("openid metadata names issuer %q, not the configured BOT_TOKEN_ISSUER %q: refused", md.Issuer, ks.issuer)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := ks.getJSON(ctx, ks.jwksURL, maxKeySetBytes, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := make(map[string]signingKey, len(set.Keys))
	for _, j := range set.Keys {
		pub, err := j.rsa()
		if err != nil {
			ks.log.Debug("key skipped", zap.String("kid", j.Kid), zap.Error(err))
			continue
		}
		keys[j.Kid] = signingKey{pub: pub, endorsements: j.Endorsements}
	}
	if len(keys) == 0 {
		return nil, errors.New("key set: no usable RSA signing key")
	}
	return keys, nil
}

// rsa decodes an RSA signing key of at least minKeyBits.
func (j jwk) rsa() (*rsa.PublicKey, error) {
	switch {
	case j.Kid == "":
		return nil, errors.New("no kid")
	case j.Kty != "RSA":
		return nil, fmt.Errorf("kty %q is not RSA", j.Kty)
	case j.Use != "" && j.Use != "sig":
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	case j.Alg != "" && j.Alg != "RS256":
		return nil, fmt.Errorf("alg %q is not RS256", j.Alg)
	}
	n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.N, "="))
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.E, "="))
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("e is not a base64url exponent")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	for _, b := range e {
		pub.E = pub.E<<8 | int(b)
	}
	if pub.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("modulus of %d bits is shorter than %d", pub.N.BitLen(), minKeyBits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("exponent %d is not valid", pub.E)
	}
	return pub, nil
}

// getJSON fetches url (a configured one) within the timeout and decodes
// at most limit bytes of it.
func (ks *keySet) getJSON(ctx context.Context, url string, limit int64, v any) error {
	ctx, cancel := context.WithTimeout(ctx, ks.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: status %d (redirects are not followed)", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("GET %s: body larger than %d bytes", url, limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
