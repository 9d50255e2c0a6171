package pipelinetest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A template with placeholders reaches every user personalised with their
// own profile from the directory cache: what the simulator recorded for
// each user is the stored activity filled with that user's display name
// and department. A user with no cached profile gets empty values and a
// warning names them; users whose sends failed get their own message from
// the replay too.
func TestPersonalisedTemplateReachesEachUserWithTheirName(t *testing.T) {
	t.Parallel()
	logs, seen := observer.New(zap.WarnLevel)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 40, InstalledFraction: 0.7, ConnectorRPS: 400, Seed: 5,
	}, MaxRetries: 2, LogCore: logs})
	ctx := context.Background()

	profiles := map[string]broadcast.Profile{}
	var members, failing []string
	var noProfile string
	for _, u := range e.Users() {
		if u.UserType == "Guest" || u.Blocked || u.Disabled {
			continue
		}
		members = append(members, u.ID)
		switch {
		case noProfile == "":
			noProfile = u.ID // evicted from the cache, say
			continue
		case len(failing) < 3:
			failing = append(failing, u.ID)
			e.Sim.Inject(e.Tenant, u.ID, teamsim.Fault{Status: http.StatusServiceUnavailable, Times: 3}) // beyond 2 retries
		}
		profiles[u.ID] = broadcast.Profile{ID: u.ID, DisplayName: u.DisplayName + ` "the" \ 🎉`, UserPrincipalName: u.UPN,
			Department: "Dept " + u.ID[:4], UserType: u.UserType}
	}
	require.Greater(t, len(members), 10)
	var put []broadcast.Profile
	for _, p := range profiles {
		put = append(put, p)
	}
	require.NoError(t, e.Store.PutProfiles(ctx, e.Tenant, put))

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Template: &broadcast.Template{
		Title: "Hello {{displayName}}", Summary: "Your department, **{{department}}**, moves on Monday.", Author: "Facilities",
		Buttons: []broadcast.Button{{Title: "Floor plan", URL: "https://contoso.example/plan"}},
	}}, Audience: broadcast.Audience{UserIDs: members}}) // listed: an allUsers audience would sync the cache from Graph first
	first := e.WaitCompleted(b.ID, 3*time.Minute)
	require.Equal(t, int64(len(failing)), first.Counts.Failed)

	code, res, text := replay(t, e, b.ID, `{}`)
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, len(failing), res.Queued)
	done := e.WaitFor(b.ID, 3*time.Minute, "replayed and completed", func(b *broadcast.Broadcast) bool {
		return b.Status == broadcast.StatusCompleted && b.Counts.Sent == int64(len(members))
	})
	require.Zero(t, done.Counts.Failed)

	stored, err := e.Store.Activity(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, message.Personal(stored))
	// The user without a cached profile was looked up in Graph when the
	// audience was resolved: the sender personalised from that profile.
	cached, err := e.Store.Profiles(ctx, e.Tenant, []string{noProfile})
	require.NoError(t, err)
	require.Contains(t, cached, noProfile)
	profiles[noProfile] = cached[noProfile]
	hashes := map[string]string{}
	for _, id := range members {
		got := e.Sim.UserDeliveries(e.Tenant, id)
		require.Len(t, got, 1, "user %s", id)
		want := message.Personalize(stored, profiles[id])
		require.Equal(t, teamsim.ContentHash(want), got[0].ContentHash, "user %s got the message personalised for them", id)
		if p, ok := profiles[id]; ok {
			require.Contains(t, string(want), `Hello `+strings.ReplaceAll(strings.ReplaceAll(p.DisplayName, `\`, `\\`), `"`, `\"`))
			require.Contains(t, string(want), p.Department)
		}
		hashes[got[0].ContentHash] = id
	}
	require.Len(t, hashes, len(members), "each user got their own message")
	require.NotContains(t, string(message.Personalize(stored, broadcast.Profile{})), "{{")
	warned := seen.FilterMessageSnippet("no cached profile").FilterField(zap.String("user_id", noProfile))
	require.Zero(t, warned.Len(), "resolution cached the profile the sender needed")
}

// A draft previewed for a user the directory cache does not know yet (found
// through Graph) reaches them personalised with their display name.
func TestPersonalisedPreviewOfAnUncachedUser(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1, Seed: 9}})
	var to teamsim.User
	for _, u := range e.Users() {
		if u.UserType != "Guest" && !u.Blocked && !u.Disabled {
			to = u
			break
		}
	}
	require.NotEmpty(t, to.ID)
	code, body := postJSON(t, e.API, "/v1/previews", `{"message":{"template":{"title":"Hello {{displayName}}"}},"to":"`+to.UPN+`"}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	p := previewed(t, e, body, to)

	stored, err := e.Store.Activity(context.Background(), p.ID)
	require.NoError(t, err)
	want := message.Personalize(stored, broadcast.Profile{DisplayName: to.DisplayName})
	require.Contains(t, string(want), "Hello "+to.DisplayName)
	got := e.Sim.UserDeliveries(e.Tenant, to.ID)
	require.Len(t, got, 1)
	require.Equal(t, teamsim.ContentHash(want), got[0].ContentHash)
}
