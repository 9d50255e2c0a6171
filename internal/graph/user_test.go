package graph_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/graph"
)

// User asks for one user by id or name, the name escaped in the path (a
// guest's has a #), and a 404 is ErrNotFound.
func TestUser(t *testing.T) {
	t.Parallel()
	b := setup(t, func(n int, r *http.Request) answer {
		if r.URL.Path == "/v1.0/users/ann_fabrikam.example#EXT#@contoso.example" {
			return answer{status: 200, body: `{"id":"0190c6d2-0000-7000-8000-000000000001","displayName":"Ann","userPrincipalName":"ann_fabrikam.example#EXT#@contoso.example","userType":"Guest"}`}
		}
		return answer{status: 404, body: `{"error":{"code":"Request_ResourceNotFound","message":"Resource does not exist."}}`}
	}, options{})
	u, err := b.client.User(context.Background(), "ann_fabrikam.example#EXT#@contoso.example")
	require.NoError(t, err)
	require.Equal(t, "0190c6d2-0000-7000-8000-000000000001", u.ID)
	require.Equal(t, "Guest", u.UserType)
	seen := b.graph.Seen()
	require.Contains(t, seen[0].URI, "/v1.0/users/ann_fabrikam.example%23EXT%23@contoso.example?")
	require.Equal(t, []string{"id,displayName,userPrincipalName,userType"}, seen[0].Query["$select"])

	_, err = b.client.User(context.Background(), "nobody@contoso.example")
	require.ErrorIs(t, err, graph.ErrNotFound)
	require.Len(t, b.graph.Seen(), 2, "a 404 is not retried")
}
