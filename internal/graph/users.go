package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// User is a user of the tenant's directory.
type User struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	UserType          string `json:"userType"` // Member or Guest
}

// UsersPage returns one page of the tenant's users (up to 999) and the link
// to the next page, "" after the last. next is "" for the first page, else
// a nextLink returned before: storing it makes a listing resumable.
func (c *Client) UsersPage(ctx context.Context, next string) ([]User, string, error) {
	u := c.baseURL + "/users?$select=id,displayName,userPrincipalName,userType&$top=999"
	if next != "" {
		if err := c.checkLink("nextLink", next); err != nil {
			return nil, "", fmt.Errorf("graph: list users: %w", err)
		}
		u = next
	}
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u})
	if err != nil {
		return nil, "", fmt.Errorf("graph: list users: %w", err)
	}
	var page struct {
		Value    []User `json:"value"`
		NextLink string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("graph: list users: decode page: %w", err)
	}
	return page.Value, page.NextLink, nil
}
