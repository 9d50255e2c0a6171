package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/auth"
)

func TestGenerateMintsARandomKeyAndItsHashLine(t *testing.T) {
	t.Parallel()
	token, k, err := auth.Generate("hr-system", auth.Author)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(token, auth.KeyPrefix))
	require.Len(t, token, len(auth.KeyPrefix)+43) // 32 bytes, base64url without padding
	sum := sha256.Sum256([]byte(token))
	require.Equal(t, sum, k.Hash)
	require.Equal(t, "hr-system author sha256:"+hex.EncodeToString(sum[:]), k.Line())
	require.NotContains(t, k.Line(), token)

	other, _, err := auth.Generate("hr-system", auth.Author)
	require.NoError(t, err)
	require.NotEqual(t, token, other)

	// The line it prints is the line the dispatcher reads.
	keys, err := auth.ParseKeys("API_KEYS", strings.NewReader(k.Line()))
	require.NoError(t, err)
	require.Equal(t, []auth.Key{k}, keys)

	_, _, err = auth.Generate("has space", auth.Admin)
	require.ErrorContains(t, err, "name")
	_, _, err = auth.Generate("ok", 0)
	require.ErrorContains(t, err, "role")
}

func TestHashIsSHA256OfTheToken(t *testing.T) {
	t.Parallel()
	// echo -n abc | sha256sum
	h := auth.Hash("abc")
	require.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex.EncodeToString(h[:]))
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	keys, err := auth.ParseKeys("API_KEYS_FILE", strings.NewReader(
		"# keys of the broadcast API\n\n  reader viewer sha256:"+h+"\nops\tadmin   sha256:"+strings.Repeat("CD", 32)+"  \r\n"))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, "reader", keys[0].Name)
	require.Equal(t, auth.Viewer, keys[0].Role)
	require.Equal(t, byte(0xab), keys[0].Hash[0])
	require.Equal(t, auth.Admin, keys[1].Role)
	require.Equal(t, byte(0xcd), keys[1].Hash[31])

	for _, c := range []struct{ line, problem string }{
		{"a viewer", "want 3 fields"},
		{"a viewer sha256:" + h + " extra", "want 3 fields"},
		{"a owner sha256:" + h, `unknown role "owner"`},
		{"a viewer md5:" + h, `not "sha256:" and 64 hex digits`},
		{"a viewer sha256:" + h[:62], `not "sha256:" and 64 hex digits`},
		{"a viewer sha256:" + h[:62] + "zz", `not "sha256:" and 64 hex digits`},
		{"a viewer bk_secretsecret", "is a key, not its hash"},
		{"-a viewer sha256:" + h, "name"},
	} {
		_, err := auth.ParseKeys("API_KEYS", strings.NewReader("# first\n"+c.line+"\n"))
		require.ErrorContains(t, err, "API_KEYS line 2: ", c.line)
		require.ErrorContains(t, err, c.problem, c.line)
		require.NotContains(t, err.Error(), "secretsecret", "an error never quotes a key")
	}
	// Every bad line is named.
	_, err = auth.ParseKeys("API_KEYS", strings.NewReader("a\nb\n"))
	require.ErrorContains(t, err, "line 1")
	require.ErrorContains(t, err, "line 2")
}

func TestNewKeysRefusesDuplicates(t *testing.T) {
	t.Parallel()
	_, a, _ := auth.Generate("a", auth.Viewer)
	_, b, _ := auth.Generate("a", auth.Admin)
	_, err := auth.NewKeys([]auth.Key{a, b})
	require.ErrorContains(t, err, `key "a": the name is given twice`)
	c := a
	c.Name = "c"
	_, err = auth.NewKeys([]auth.Key{a, c})
	require.ErrorContains(t, err, `key "c": same hash as key "a"`)
}

func TestAuthenticateFindsTheKeyWhateverItsPlace(t *testing.T) {
	t.Parallel()
	var keys []auth.Key
	var tokens []string
	for i, r := range []auth.Role{auth.Viewer, auth.Author, auth.Admin, auth.Author} {
		tok, k, err := auth.Generate(fmt.Sprintf("k%d", i), r)
		require.NoError(t, err)
		keys, tokens = append(keys, k), append(tokens, tok)
	}
	set, err := auth.NewKeys(keys)
	require.NoError(t, err)
	require.Equal(t, 4, set.Len())
	for i, tok := range tokens {
		p, ok := set.Authenticate(tok)
		require.True(t, ok)
		require.Equal(t, auth.Principal{Name: keys[i].Name, Role: keys[i].Role}, p)
	}
	for _, bad := range []string{"", tokens[0][:len(tokens[0])-1], tokens[0] + "x", hex.EncodeToString(keys[0].Hash[:])} {
		_, ok := set.Authenticate(bad)
		require.False(t, ok, bad)
	}
}

func TestRolesAreOrdered(t *testing.T) {
	t.Parallel()
	require.True(t, auth.Admin.Allows(auth.Author))
	require.True(t, auth.Author.Allows(auth.Author))
	require.True(t, auth.Author.Allows(auth.Viewer))
	require.False(t, auth.Viewer.Allows(auth.Author))
	require.False(t, auth.Author.Allows(auth.Admin))
	require.False(t, auth.Role(0).Allows(auth.Viewer))
	require.False(t, auth.Admin.Allows(0), "no route needs no role by mistake")
	for _, r := range auth.Roles {
		got, err := auth.ParseRole(r.String())
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tok, err := auth.BearerToken([]string{"Bearer bk_abc"})
	require.NoError(t, err)
	require.Equal(t, "bk_abc", tok)
	tok, err = auth.BearerToken([]string{"bearer   bk_abc "})
	require.NoError(t, err)
	require.Equal(t, "bk_abc", tok)

	_, err = auth.BearerToken(nil)
	require.ErrorIs(t, err, auth.ErrNoKey)
	_, err = auth.BearerToken([]string{""})
	require.ErrorIs(t, err, auth.ErrNoKey)
	for _, h := range [][]string{{"Basic dXNlcjpwdw=="}, {"Bearer"}, {"Bearer "}, {"bk_abc"}, {"Bearer a b"},
		{"Bearer a\x01"}, {"Bearer " + strings.Repeat("a", 600)}, {"Bearer a", "Bearer b"}} {
		_, err := auth.BearerToken(h)
		require.ErrorIs(t, err, auth.ErrMalformed, "%q", h)
	}
}
