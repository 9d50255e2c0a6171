package teams

import (
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/token"
)

// NewBotClient returns a Connector client that authenticates as the bot:
// client credentials against loginURL for the Connector scope (tenant
// botframework.com), with the token cached and refreshed.
func NewBotClient(serviceURL, loginURL, botAppID, botAppPassword string, httpClient *http.Client) (*Client, error) {
	tokens, err := token.NewSource(token.Config{LoginURL: loginURL, Tenant: token.ConnectorTenant,
		ClientID: botAppID, ClientSecret: botAppPassword, Scope: token.ScopeConnector, HTTP: httpClient})
	if err != nil {
		return nil, err
	}
	return NewClient(serviceURL, tokens, httpClient, botAppID)
}
