package teamsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// idpCodeFor signs in as account i with the PKCE verifier and returns the
// code the authorize page's pick redirects with.
func idpCodeFor(t *testing.T, b *testBundle, i int, verifier string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {testBotAppID}, "redirect_uri": {"https://console.example/auth/callback"},
		"response_type": {"code"}, "scope": {"openid profile"}, "state": {"st"}, "nonce": {"n1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	base := b.srv.URL + "/login/" + b.tenant + "/oauth2/v2.0/authorize"
	res, err := http.Get(base + "?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(page))
	acct := b.sim.IdPAccounts(b.tenant)[i]
	require.Contains(t, string(page), acct.UPN)
	q.Set("upn", acct.UPN)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = c.PostForm(base, q)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	loc, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "st", loc.Query().Get("state"))
	return loc.Query().Get("code")
}

func (b *testBundle) redeem(t *testing.T, code, verifier string) (int, map[string]any) {
	t.Helper()
	res, err := http.PostForm(b.srv.URL+"/login/"+b.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://console.example/auth/callback"},
		"client_id": {testBotAppID}, "client_secret": {testBotSecret}})
	require.NoError(t, err)
	defer res.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return res.StatusCode, body
}

func TestIdPIssuesIDTokensWithRolesForPKCECodes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 8}, withRealClock())
	verifier := strings.Repeat("v", 50)
	code := idpCodeFor(t, b, 1, verifier)

	status, body := b.redeem(t, code, verifier)
	require.Equal(t, http.StatusOK, status, body)
	raw, _ := body["id_token"].(string)
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	res, err := http.Get(b.srv.URL + "/login/" + b.tenant + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&meta))
	res.Body.Close()
	require.Equal(t, IdPIssuer(b.srv.URL, b.tenant), meta.Issuer)

	key, kid, err := b.sim.idp.key.get()
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tk *jwt.Token) (any, error) {
		require.Equal(t, kid, tk.Header["kid"])
		return &key.PublicKey, nil
	}, jwt.WithIssuer(meta.Issuer), jwt.WithAudience(testBotAppID), jwt.WithExpirationRequired())
	require.NoError(t, err)
	require.True(t, tok.Valid)
	acct := b.sim.IdPAccounts(b.tenant)[1]
	require.Equal(t, acct.UPN, claims["preferred_username"])
	require.Equal(t, []any{"author"}, claims["roles"])
	require.Equal(t, "n1", claims["nonce"])
	require.Equal(t, b.tenant, claims["tid"])

	// A code is taken once.
	status, body = b.redeem(t, code, verifier)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_grant", body["error"])

	// SetIdPRoles changes what the next token says.
	b.sim.SetIdPRoles(b.tenant, acct.UPN, "admin")
	status, body = b.redeem(t, idpCodeFor(t, b, 1, verifier), verifier)
	require.Equal(t, http.StatusOK, status)
	parsed, _, err := jwt.NewParser().ParseUnverified(body["id_token"].(string), jwt.MapClaims{})
	require.NoError(t, err)
	require.Equal(t, []any{"admin"}, parsed.Claims.(jwt.MapClaims)["roles"])
}

func TestIdPRefusesAWrongVerifierAndRequiresPKCE(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 8}, withRealClock())
	code := idpCodeFor(t, b, 0, strings.Repeat("a", 50))
	status, body := b.redeem(t, code, strings.Repeat("b", 50))
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_grant", body["error"])
	require.Contains(t, body["error_description"], "Code_Verifier")

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	q := url.Values{"client_id": {testBotAppID}, "redirect_uri": {"https://console.example/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}}
	res, err := c.Get(b.srv.URL + "/login/" + b.tenant + "/oauth2/v2.0/authorize?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	loc, _ := url.Parse(res.Header.Get("Location"))
	require.Equal(t, "invalid_request", loc.Query().Get("error"))
	require.Contains(t, loc.Query().Get("error_description"), "Proof Key")

	q.Set("client_id", "someone-else")
	res, err = c.Get(b.srv.URL + "/login/" + b.tenant + "/oauth2/v2.0/authorize?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "an unknown client is never redirected to")
}
