package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A template is accepted, kept as given in the broadcast, and stored
// rendered: the activity the senders post is its Adaptive Card, with the
// placeholders left for the senders to fill.
func TestCreateTemplate(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}, NoWorkers: true})
	body := `{"message":{"template":{"title":"Hi {{givenName}}","summary":"**Benefits** open on Monday",
		"imageUrl":"https://contoso.example/b.png","author":"HR","buttons":[{"title":"Enrol","url":"https://contoso.example/enrol"}]}},
		"audience":{"allUsers":true}}`
	rec, _ := do(t, e.API, http.MethodPost, "/v1/broadcasts", "application/json", body)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))

	rec, _ = do(t, e.API, http.MethodGet, "/v1/broadcasts/"+b.ID, "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var got broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	want := broadcast.Template{Title: "Hi {{givenName}}", Summary: "**Benefits** open on Monday", ImageURL: "https://contoso.example/b.png",
		Author: "HR", Buttons: []broadcast.Button{{Title: "Enrol", URL: "https://contoso.example/enrol"}}}
	require.NotNil(t, got.Message.Template)
	require.Equal(t, want, *got.Message.Template)

	stored, err := e.Store.Activity(context.Background(), b.ID)
	require.NoError(t, err)
	rendered, err := message.Build(broadcast.Message{Template: &want})
	require.NoError(t, err)
	require.JSONEq(t, string(rendered), string(stored))
	require.True(t, message.Personal(stored))
}
