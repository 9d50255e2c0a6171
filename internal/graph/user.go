package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// User is a user of the tenant's directory.
type User struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	UserType          string `json:"userType"` // Member or Guest
}

// User returns one user of the tenant, found by object id or user
// principal name (GET /users/{id | userPrincipalName}). A user Graph does
// not know is an error matching ErrNotFound.
func (c *Client) User(ctx context.Context, idOrUPN string) (User, error) {
	u := c.baseURL + "/users/" + url.PathEscape(idOrUPN) + "?$select=id,displayName,userPrincipalName,userType"
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u,
		fields: []zap.Field{zap.String("user", idOrUPN)}})
	if err != nil {
		return User{}, fmt.Errorf("graph: get user: %w", err)
	}
	var out User
	if err := json.Unmarshal(body, &out); err != nil {
		return User{}, fmt.Errorf("graph: get user: decode: %w", err)
	}
	if out.ID == "" {
		return User{}, fmt.Errorf("graph: get user: the answer has no id")
	}
	return out, nil
}
