package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The directory reads an audience needs: the tenant's users by delta query
// (a full round, then only the changes), a group's transitive user
// members, and users looked up by id or user principal name.

// ProfileSelect is the $select of every directory read: the fields of a
// recipient's profile.
const ProfileSelect = "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department,userType,accountEnabled"

// DirectoryUser is a user as the directory reads return it.
type DirectoryUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	GivenName         string `json:"givenName"`
	Surname           string `json:"surname"`
	Mail              string `json:"mail"`
	UserPrincipalName string `json:"userPrincipalName"`
	JobTitle          string `json:"jobTitle"`
	Department        string `json:"department"`
	UserType          string `json:"userType"` // Member or Guest
	AccountEnabled    *bool  `json:"accountEnabled"`
	// Removed is set in a delta round for a user deleted from the
	// directory (only ID is set then).
	Removed *struct {
		Reason string `json:"reason"`
	} `json:"@removed,omitempty"`
}

// DeltaPage is one page of a users delta round.
type DeltaPage struct {
	Users []DirectoryUser
	// NextLink continues the round; DeltaLink, on the round's last page,
	// starts the next round, which lists only what changed since.
	NextLink, DeltaLink string
}

// maxPageSize is Graph's largest page of directory objects.
const maxPageSize = 999

// UsersDelta returns a page of a users delta round: link "" starts a full
// round (every user), else it is a NextLink or DeltaLink returned before.
// A link Graph no longer serves is an error matching ErrSyncReset: start
// again with "".
func (c *Client) UsersDelta(ctx context.Context, link string) (DeltaPage, error) {
	u := c.baseURL + "/users/delta?$select=" + ProfileSelect
	if link != "" {
		if err := c.checkLink("link", link); err != nil {
			return DeltaPage{}, fmt.Errorf("graph: users delta: %w", err)
		}
		u = link
	}
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u,
		header: map[string]string{"Prefer": "odata.maxpagesize=" + strconv.Itoa(maxPageSize)}})
	if err != nil {
		return DeltaPage{}, fmt.Errorf("graph: users delta: %w", err)
	}
	var page struct {
		Value     []DirectoryUser `json:"value"`
		NextLink  string          `json:"@odata.nextLink"`
		DeltaLink string          `json:"@odata.deltaLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return DeltaPage{}, fmt.Errorf("graph: users delta: decode page: %w", err)
	}
	if (page.NextLink == "") == (page.DeltaLink == "") {
		return DeltaPage{}, errors.New("graph: users delta: a page must carry a nextLink or a deltaLink")
	}
	return DeltaPage{Users: page.Value, NextLink: page.NextLink, DeltaLink: page.DeltaLink}, nil
}

// GroupMembersPage returns a page of the group's transitive user members
// (nested groups' users included, other objects left out) and the link to
// the next page, "" after the last. next is "" for the first page. An
// unknown group is an error matching ErrNotFound.
func (c *Client) GroupMembersPage(ctx context.Context, groupID, next string) ([]DirectoryUser, string, error) {
	u := c.baseURL + "/groups/" + url.PathEscape(groupID) + "/transitiveMembers/microsoft.graph.user?$select=" +
		ProfileSelect + "&$top=" + strconv.Itoa(maxPageSize)
	if next != "" {
		if err := c.checkLink("nextLink", next); err != nil {
			return nil, "", fmt.Errorf("graph: members of group %s: %w", groupID, err)
		}
		u = next
	}
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u,
		fields: []zap.Field{zap.String("group_id", groupID)}})
	if err != nil {
		return nil, "", fmt.Errorf("graph: members of group %s: %w", groupID, err)
	}
	var page struct {
		Value    []DirectoryUser `json:"value"`
		NextLink string          `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("graph: members of group %s: decode page: %w", groupID, err)
	}
	return page.Value, page.NextLink, nil
}

// MaxBatch is the most requests Graph takes in one $batch.
const MaxBatch = 20

// UsersByKey looks users up by object id or user principal name, through
// Graph's $batch (20 lookups a request), and returns those found keyed by
// the key as given; keys Graph does not know are absent. Each inner
// request is throttled by Graph on its own: those answered 429 or 5xx are
// asked again, after their Retry-After (the whole client pauses) or a
// backoff, at most MaxRetries times.
func (c *Client) UsersByKey(ctx context.Context, keys []string) (map[string]DirectoryUser, error) {
	out := make(map[string]DirectoryUser, len(keys))
	for i := 0; i < len(keys); i += MaxBatch {
		if err := c.lookupBatch(ctx, keys[i:min(i+MaxBatch, len(keys))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookupBatch looks up at most MaxBatch keys into out.
func (c *Client) lookupBatch(ctx context.Context, keys []string, out map[string]DirectoryUser) error {
	urls := make([]string, len(keys))
	for i, k := range keys {
		urls[i] = "/users/" + url.PathEscape(k) + "?$select=" + ProfileSelect
	}
	return c.getBatch(ctx, "look up", keys, urls, false, func(i int, body json.RawMessage) error {
		var u DirectoryUser
		if err := json.Unmarshal(body, &u); err != nil || u.ID == "" {
			return fmt.Errorf("graph: look up user %s: decode: %v", keys[i], err)
		}
		out[keys[i]] = u
		return nil
	})
}

// Guest reports whether the user is a guest of the tenant.
func (u DirectoryUser) Guest() bool { return strings.EqualFold(u.UserType, "Guest") }

// Group is a group as the directory sync caches it: its id and name.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// GroupsPage returns a page of the tenant's groups (id and display name)
// and the link to the next page, "" after the last; next is "" for the
// first page.
func (c *Client) GroupsPage(ctx context.Context, next string) ([]Group, string, error) {
	u := c.baseURL + "/groups?$select=id,displayName&$top=" + strconv.Itoa(maxPageSize)
	if next != "" {
		if err := c.checkLink("nextLink", next); err != nil {
			return nil, "", fmt.Errorf("graph: groups: %w", err)
		}
		u = next
	}
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u})
	if err != nil {
		return nil, "", fmt.Errorf("graph: groups: %w", err)
	}
	var page struct {
		Value    []Group `json:"value"`
		NextLink string  `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("graph: groups: decode page: %w", err)
	}
	return page.Value, page.NextLink, nil
}

// GroupMemberCount returns the number of the group's transitive user
// members (guests and disabled accounts included), by Graph's $count, an
// advanced query (ConsistencyLevel: eventual: it may lag a change by a
// little). An unknown group is an error matching ErrNotFound.
func (c *Client) GroupMemberCount(ctx context.Context, groupID string) (int64, error) {
	u := c.baseURL + "/groups/" + url.PathEscape(groupID) + "/transitiveMembers/microsoft.graph.user/$count"
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet, url: u,
		header: map[string]string{"ConsistencyLevel": "eventual", "Accept": "text/plain"}, fields: []zap.Field{zap.String("group_id", groupID)}})
	if err != nil {
		return 0, fmt.Errorf("graph: members of group %s: count: %w", groupID, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(string(body), "\ufeff")), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("graph: members of group %s: count: not a count: %.40q", groupID, body)
	}
	return n, nil
}
