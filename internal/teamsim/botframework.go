package teamsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The Bot Framework's side of the messaging endpoint: the simulator signs
// the activities it posts to the bot with its own RSA key, and publishes
// the OpenID metadata and key set a bot validates them with, under
// /botframework/v1/.well-known/ (Microsoft's are under
// https://login.botframework.com/v1/.well-known/). The tokens carry
// Microsoft's issuer, the bot's app id as audience and the simulator's
// Connector URL as serviceurl claim; its key endorses the msteams channel.

// Paths of the metadata and the key set under the simulator's base URL.
const (
	BotOpenIDMetadataPath = "/botframework/v1/.well-known/openidconfiguration"
	BotJWKSPath           = "/botframework/v1/.well-known/keys"
	// BotTokenIssuer is the issuer of the Bot Framework's tokens.
	BotTokenIssuer = "https://api.botframework.com"
	// BotChannel is the channel the simulated activities come from.
	BotChannel = "msteams"
	// botTokenTTL is the lifetime of a signed activity token.
	botTokenTTL = time.Hour
)

// botKey is the simulator's signing key, generated when first needed:
// most simulators never sign.
type botKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	kid  string
	err  error
}

func (k *botKey) get() (*rsa.PrivateKey, string, error) {
	k.once.Do(func() {
		k.key, k.err = rsa.GenerateKey(rand.Reader, 2048)
		if k.err == nil {
			sum := sha256.Sum256(k.key.N.Bytes())
			k.kid = base64.RawURLEncoding.EncodeToString(sum[:12])
		}
	})
	return k.key, k.kid, k.err
}

// BotToken signs a token for an activity posted from serviceURL, as the
// Bot Framework does. Tests use it to post activities of their own.
func (s *Sim) BotToken(serviceURL string) (string, error) {
	return s.BotTokenWith(jwt.MapClaims{"serviceurl": serviceURL})
}

// BotTokenWith signs a token with the usual claims, then the given ones
// over them (a nil value removes a claim): tests use it to sign tokens a
// bot must refuse.
func (s *Sim) BotTokenWith(claims jwt.MapClaims) (string, error) {
	key, kid, err := s.botKey.get()
	if err != nil {
		return "", fmt.Errorf("teamsim: signing key: %w", err)
	}
	now := s.now()
	c := jwt.MapClaims{"iss": BotTokenIssuer, "aud": s.cfg.BotAppID, "iat": now.Add(-5 * time.Second).Unix(),
		"nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(botTokenTTL).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = kid
	return t.SignedString(key)
}

// baseURL is the simulator's base URL as the request reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// publicBase is the base URL the simulator names itself by to the bot:
// Config.PublicURL, else the URL r reached it at.
func (s *Sim) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return baseURL(r)
}

func (s *Sim) handleBotMetadata(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindBotMetadata)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                BotTokenIssuer,
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              s.publicBase(r) + BotJWKSPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (s *Sim) handleBotKeys(w http.ResponseWriter, _ *http.Request) {
	s.led.request(kindBotKeys)
	key, kid, err := s.botKey.get()
	if err != nil {
		controlError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": kid,
		"n":            base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e":            base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		"endorsements": []string{BotChannel},
	}}})
}
