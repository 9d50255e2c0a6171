package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

type idList struct {
	Value []struct {
		ID       string `json:"id"`
		TeamsApp *struct {
			ID string `json:"id"`
		} `json:"teamsApp"`
	} `json:"value"`
}

// CatalogAppID returns the id of the app in the tenant's catalog, given the
// id of its manifest. It is cached: the id does not change while the app is
// published. An app that is not in the catalog is ErrAppNotInCatalog.
func (c *Client) CatalogAppID(ctx context.Context, manifestID string) (string, error) {
	c.catalogMu.Lock()
	id, ok := c.catalog[manifestID]
	c.catalogMu.Unlock()
	if ok {
		return id, nil
	}

	id, err := c.findCatalogApp(ctx, "externalId eq "+odataString(manifestID))
	if err == nil && id == "" {
		// Store apps have no externalId; their catalog id is the manifest id.
		id, err = c.findCatalogApp(ctx, "id eq "+odataString(manifestID))
		var ge *Error
		if errors.As(err, &ge) && ge.Status == http.StatusBadRequest {
			id, err = "", nil // a manifest id that is not a valid catalog id
		}
	}
	if err != nil {
		return "", fmt.Errorf("graph: find app %s in the catalog: %w", manifestID, err)
	}
	if id == "" {
		return "", fmt.Errorf("graph: find app %s: %w", manifestID, ErrAppNotInCatalog)
	}
	c.catalogMu.Lock()
	c.catalog[manifestID] = id
	c.catalogMu.Unlock()
	return id, nil
}

func (c *Client) findCatalogApp(ctx context.Context, filter string) (string, error) {
	body, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodGet,
		url: c.baseURL + "/appCatalogs/teamsApps?$filter=" + queryEscape(filter)})
	if err != nil {
		return "", err
	}
	var list idList
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("decode answer: %w", err)
	}
	if len(list.Value) == 0 {
		return "", nil
	}
	return list.Value[0].ID, nil
}

// InstallApp installs the app for the user in personal scope. It reports
// whether this call installed it: an app already installed (409) is not an
// error. An unknown user or app is ErrNotFound.
func (c *Client) InstallApp(ctx context.Context, userID, catalogAppID string) (bool, error) {
	body, err := json.Marshal(map[string]string{
		"teamsApp@odata.bind": c.baseURL + "/appCatalogs/teamsApps/" + url.PathEscape(catalogAppID),
	})
	if err != nil {
		return false, fmt.Errorf("graph: install app for user %s: %w", userID, err)
	}
	_, err = c.do(ctx, call{kind: kindInstallPost, method: http.MethodPost, body: body,
		url:    c.userURL(userID) + "/teamwork/installedApps",
		fields: []zap.Field{zap.String("user_id", userID)}})
	var ge *Error
	if errors.As(err, &ge) && ge.Status == http.StatusConflict {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("graph: install app for user %s: %w", userID, err)
	}
	return true, nil
}

// InstallationID returns the id of the app's installation for the user, or
// ErrNotInstalled.
func (c *Client) InstallationID(ctx context.Context, userID, catalogAppID string) (string, error) {
	body, err := c.do(ctx, call{kind: kindInstallGet, method: http.MethodGet,
		url: c.userURL(userID) + "/teamwork/installedApps?$expand=teamsApp&$filter=" +
			queryEscape("teamsApp/id eq "+odataString(catalogAppID)),
		fields: []zap.Field{zap.String("user_id", userID)}})
	if err != nil {
		return "", fmt.Errorf("graph: find installation for user %s: %w", userID, err)
	}
	var list idList
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("graph: find installation for user %s: decode answer: %w", userID, err)
	}
	for _, v := range list.Value {
		if v.ID != "" && (v.TeamsApp == nil || v.TeamsApp.ID == catalogAppID) {
			return v.ID, nil
		}
	}
	return "", fmt.Errorf("graph: find installation for user %s: %w", userID, ErrNotInstalled)
}

// ChatID returns the id of the 1:1 chat between the user and the bot of an
// installation; it is a valid Connector conversation id.
func (c *Client) ChatID(ctx context.Context, userID, installationID string) (string, error) {
	body, err := c.do(ctx, call{kind: kindInstallGet, method: http.MethodGet,
		url:    c.userURL(userID) + "/teamwork/installedApps/" + url.PathEscape(installationID) + "/chat",
		fields: []zap.Field{zap.String("user_id", userID)}})
	if err != nil {
		return "", fmt.Errorf("graph: chat of the installation for user %s: %w", userID, err)
	}
	var chat struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &chat); err != nil || chat.ID == "" {
		return "", fmt.Errorf("graph: chat of the installation for user %s: answer has no chat id", userID)
	}
	return chat.ID, nil
}

func (c *Client) userURL(userID string) string {
	return c.baseURL + "/users/" + url.PathEscape(userID)
}

// LookupBacklog is how long a new installation or chat lookup would wait for
// the installedApps GET budget (and any pause) now: the installer uses it to
// tell when Graph is saturated and another route is quicker.
func (c *Client) LookupBacklog() time.Duration {
	r := c.limiters[kindInstallGet].Reserve()
	d := r.Delay()
	r.Cancel()
	return max(d, c.pauseLeft())
}
