package pipelinetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/bot"
)

// PostActivity posts activity a of user in the env's tenant to the bot
// endpoint (Options.BotEndpoint), signed by the simulator as the Bot
// Framework signs, with the usual fields filled in (channel, serviceUrl,
// from, recipient, the personal conversation "a:<user>"), and returns the
// status and the body answered.
func (e *Env) PostActivity(user string, a map[string]any) (int, []byte) {
	t := e.T
	t.Helper()
	require.NotEmpty(t, e.BotURL, "the env runs no bot endpoint: set Options.BotEndpoint")
	service := e.SimURL + "/connector/"
	a["channelId"], a["serviceUrl"] = "msteams", service
	a["from"] = map[string]any{"id": "29:" + user, "aadObjectId": user}
	a["recipient"] = map[string]any{"id": "28:" + BotAppID}
	a["conversation"] = map[string]any{"conversationType": "personal", "tenantId": e.Tenant, "id": "a:" + user}
	raw, err := json.Marshal(a)
	require.NoError(t, err)
	tok, err := e.Sim.BotToken(service)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, e.BotURL+bot.Path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}
