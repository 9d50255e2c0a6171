package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// A user the console signed in is held to the same policy and audited
// as a key of the same role would be.
func TestServeAsAppliesThePolicyAndTheAuditLog(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	as := func(p auth.Principal, method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		b.srv.ServeAs(rec, req, p)
		return rec
	}
	viewer := auth.Principal{Name: "vera@" + b.e.Tenant[:8], Role: auth.Viewer}
	author := auth.Principal{Name: "ann@" + b.e.Tenant[:8], Role: auth.Author}
	create := `{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":"` + later() + `"}`

	rec := as(viewer, http.MethodPost, "/v1/broadcasts", create)
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	rec = as(author, http.MethodPost, "/v1/broadcasts", create)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	id := strings.TrimPrefix(rec.Header().Get("Location"), "/v1/broadcasts/")
	rec = as(viewer, http.MethodGet, "/v1/audit", "")
	require.Equal(t, http.StatusForbidden, rec.Code)
	rec = as(auth.Principal{Name: "nobody"}, http.MethodGet, "/v1/broadcasts", "")
	require.Equal(t, http.StatusUnauthorized, rec.Code, "no role, no call")

	entries, _, err := b.e.Store.Audit(t.Context(), store.AuditFilter{BroadcastID: id, Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, author.Name, entries[0].Actor)
	require.Equal(t, api.ActionCreate, entries[0].Action)
	entries, _, err = b.e.Store.Audit(t.Context(), store.AuditFilter{Actor: viewer.Name, Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 1, "the refused create is audited too")
	require.Equal(t, http.StatusForbidden, entries[0].Status)

	// Over the network, without a key, the same call is a 401.
	rec = b.call(t, "", http.MethodGet, "/v1/broadcasts/"+id, "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}
