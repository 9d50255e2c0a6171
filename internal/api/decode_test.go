package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A body that decodes to something other than what its author wrote, or
// to what Teams would show or run unchecked, is a 400 naming the field
// by its JSON path and the problem, for a create and for a draft's
// preview alike; nothing is written.
func TestCreateDecodingNamesTheField(t *testing.T) {
	t.Parallel()
	rdb, err := store.Connect(t.Context(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)
	tenant := testenv.FreeTenant(t)
	d := dispatch.New(dispatch.Config{Tenants: []string{tenant}}, st, nil, nil, zap.NewNop())
	_, h := newAdminAPI(t, d, nil, st, zap.NewNop())

	body := func(message, rest string) string {
		return `{"message":` + message + `,"audience":{"allUsers":true}` + rest + `}`
	}
	card := func(el string) string {
		return `{"card":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"hi"},` + el + `]}}`
	}
	cases := []struct{ name, message, rest, field, problem string }{
		{"duplicate key", `{"text":"a","text":"b"}`, ``, "message.text", "given twice"},
		{"unknown nested field", `{"template":{"title":"a","subtitle":"b"}}`, ``, "message.template.subtitle", "unknown field"},
		{"invalid UTF-8", "{\"template\":{\"title\":\"\xc3\"}}", ``, "message.template.title", "not valid UTF-8"},
		{"NUL in text", `{"text":"a\u0000"}`, ``, "message.text", "control character U+0000"},
		{"nested too deep", `{"text":"a"}`, `,"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200), "x" + strings.Repeat("[0]", 99), "nested more than 100 levels"},
		{"fallback to javascript", card(`{"type":"ActionSet","actions":[{"type":"Action.Submit","fallback":{"type":"Action.OpenUrl","url":"javascript:alert(1)"}}]}`), ``, "message.card.body[1].actions[0].fallback.url", "https://"},
		{"markdown link to javascript", `{"text":"[x](javascript:alert(1))"}`, ``, "message.text", "markdown link"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/v1/broadcasts", "/v1/previews"} {
				b := body(c.message, c.rest)
				if path == "/v1/previews" {
					b = strings.Replace(b, `"audience":{"allUsers":true}`, `"to":"ada@contoso.example"`, 1)
				}
				rec, eb := do(t, h, http.MethodPost, path, "application/json", b)
				require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", path, rec.Body.String())
				require.Equal(t, "invalid_request", eb.Error.Code)
				require.Len(t, eb.Error.Fields, 1, "%s: %s", path, rec.Body.String())
				require.Equal(t, c.field, eb.Error.Fields[0].Field, path)
				require.Contains(t, eb.Error.Fields[0].Problem, c.problem, path)
			}
		})
	}
	t.Run("empty sendAt", func(t *testing.T) {
		rec, eb := do(t, h, http.MethodPost, "/v1/broadcasts", "application/json", body(`{"text":"a"}`, `,"sendAt":""`))
		require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
		require.Equal(t, "sendAt", eb.Error.Fields[0].Field)
		require.Contains(t, eb.Error.Fields[0].Problem, "empty")
	})
	list, _, err := st.ListBroadcasts(t.Context(), store.ListFilter{TenantID: tenant})
	require.NoError(t, err)
	require.Empty(t, list, "a refused request wrote nothing")
}
