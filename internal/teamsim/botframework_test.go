package teamsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/botauth"
)

// botEndpoint records what the simulator posts and answers with the
// statuses given, then 200.
type botEndpoint struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	authz    []string
	bodies   []map[string]any
	block    chan struct{} // when set, requests wait for it (or their cancellation)
}

func newBotEndpoint(t *testing.T, statuses ...int) *botEndpoint {
	e := &botEndpoint{statuses: statuses}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		e.mu.Lock()
		e.authz = append(e.authz, r.Header.Get("Authorization"))
		e.bodies = append(e.bodies, body)
		status := http.StatusOK
		if len(e.statuses) > 0 {
			status, e.statuses = e.statuses[0], e.statuses[1:]
		}
		block := e.block
		e.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *botEndpoint) received() ([]string, []map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.authz...), append([]map[string]any(nil), e.bodies...)
}

func (b *testBundle) install(t *testing.T, userID string) {
	t.Helper()
	bind := map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + b.sim.tenants[b.tenant].catalogID}
	r := b.do(t, http.MethodPost, "/graph/v1.0/users/"+userID+"/teamwork/installedApps", b.graphToken(t), bind)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

func TestBotMetadataAndSignedActivities(t *testing.T) {
	t.Parallel()
	ep := newBotEndpoint(t, http.StatusServiceUnavailable)
	b := setup(t, Config{UsersPerTenant: 10, InstalledFraction: 0, Seed: 4, BotEndpoint: ep.srv.URL + "/api/messages"}, withRealClock())
	t.Cleanup(b.sim.Close)

	md := b.do(t, http.MethodGet, BotOpenIDMetadataPath, "", nil).json(t)
	require.Equal(t, BotTokenIssuer, md["issuer"])
	require.Equal(t, b.srv.URL+BotJWKSPath, md["jwks_uri"])
	keys := b.do(t, http.MethodGet, BotJWKSPath, "", nil).json(t)["keys"].([]any)
	require.Len(t, keys, 1)
	require.Equal(t, []any{BotChannel}, keys[0].(map[string]any)["endorsements"])

	user := b.userWhere(t, notInstalled)
	b.install(t, user.ID)
	require.Eventually(t, func() bool { return b.sim.Ledger().BotAnswers[http.StatusOK] == 1 }, 10*time.Second, 10*time.Millisecond)
	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.BotActivities)
	require.Equal(t, map[int]int64{http.StatusServiceUnavailable: 1, http.StatusOK: 1}, l.BotAnswers, "a 503 is retried")
	require.Zero(t, l.BotActivitiesFailed)

	authz, bodies := ep.received()
	require.Len(t, bodies, 2)
	a := bodies[1]
	require.Equal(t, "conversationUpdate", a["type"])
	require.Equal(t, BotChannel, a["channelId"])
	require.Equal(t, b.srv.URL+"/connector/", a["serviceUrl"])
	require.Equal(t, user.ID, a["from"].(map[string]any)["aadObjectId"])
	require.Equal(t, "28:"+testBotAppID, a["membersAdded"].([]any)[0].(map[string]any)["id"])
	conv := a["conversation"].(map[string]any)
	require.Equal(t, "personal", conv["conversationType"])
	require.Equal(t, b.tenant, conv["tenantId"])
	require.Equal(t, b.sim.tenants[b.tenant].byKey[user.ID].conv.chatID, conv["id"], "the chat id Graph answers")

	// The bot can authenticate it with the published keys.
	v, err := botauth.New(botauth.Config{OpenIDMetadataURL: b.srv.URL + BotOpenIDMetadataPath, JWKSURL: b.srv.URL + BotJWKSPath, AppID: testBotAppID})
	require.NoError(t, err)
	_, err = v.Validate(context.Background(), authz[1], botauth.Activity{ServiceURL: a["serviceUrl"].(string), ChannelID: BotChannel})
	require.NoError(t, err)
	_, err = v.Validate(context.Background(), authz[1], botauth.Activity{ServiceURL: "https://smba.trafficmanager.net/teams/", ChannelID: BotChannel})
	require.ErrorIs(t, err, botauth.ErrForbidden)

	// An uninstall is posted as installationUpdate remove; a refusal (400)
	// is not retried.
	ep.mu.Lock()
	ep.statuses = []int{http.StatusBadRequest}
	ep.mu.Unlock()
	r := b.do(t, http.MethodPost, "/_sim/uninstall", "", map[string]string{"tenant": b.tenant, "user": user.ID})
	require.Equal(t, http.StatusNoContent, r.status)
	require.Eventually(t, func() bool { return b.sim.Ledger().BotActivitiesFailed == 1 }, 10*time.Second, 10*time.Millisecond)
	_, bodies = ep.received()
	require.Len(t, bodies, 3)
	require.Equal(t, "installationUpdate", bodies[2]["type"])
	require.Equal(t, "remove", bodies[2]["action"])
	require.EqualValues(t, 1, b.sim.Ledger().BotAnswers[http.StatusBadRequest])

	// Uninstalling again changes nothing and posts nothing.
	b.sim.Uninstall(b.tenant, user.ID)
	require.EqualValues(t, 2, b.sim.Ledger().BotActivities)
}

func TestBotPostsStopOnClose(t *testing.T) {
	t.Parallel()
	ep := newBotEndpoint(t)
	ep.block = make(chan struct{}) // never answers
	t.Cleanup(func() { close(ep.block) })
	b := setup(t, Config{UsersPerTenant: 10, InstalledFraction: 0, Seed: 5, BotEndpoint: ep.srv.URL + "/api/messages"}, withRealClock())
	for _, u := range b.sim.Users(b.tenant)[:3] {
		b.install(t, u.ID)
	}
	require.Eventually(t, func() bool { _, bodies := ep.received(); return len(bodies) == 3 }, 10*time.Second, 10*time.Millisecond)
	b.sim.Close() // returns once the posts in flight are cancelled
	l := b.sim.Ledger()
	require.EqualValues(t, 3, l.BotActivities)
	require.EqualValues(t, 3, l.BotActivitiesFailed)
	require.EqualValues(t, 3, l.BotAnswers[0])

	// After Close nothing is posted.
	b.install(t, b.sim.Users(b.tenant)[3].ID)
	require.EqualValues(t, 3, b.sim.Ledger().BotActivities)
}

func TestBotEndpointIsValidated(t *testing.T) {
	t.Parallel()
	_, err := New(Config{BotAppID: testBotAppID, BotAppPassword: testBotSecret, TeamsAppID: testTeamsAppID, BotEndpoint: "127.0.0.1:3978/api/messages"})
	require.ErrorContains(t, err, "BotEndpoint")
	for _, bad := range []string{"teamsim:8090", "ftp://teamsim:8090", "http://teamsim:8090/connector", "http://teamsim:8090?x=1", "http://u:p@teamsim:8090"} {
		_, err := New(Config{BotAppID: testBotAppID, BotAppPassword: testBotSecret, TeamsAppID: testTeamsAppID, PublicURL: bad})
		require.ErrorContains(t, err, "PublicURL", bad)
	}
}

// With PublicURL (a simulator in a container, reached as teamsim:8090 by
// the services but listening on 0.0.0.0), everything the bot sees names
// the public URL, whatever address a request came in at: the activities'
// serviceUrl and their tokens' serviceurl claim, the metadata's jwks_uri,
// and the uninstalls posted before any request reached the simulator.
func TestBotPublicURL(t *testing.T) {
	t.Parallel()
	const public = "http://teamsim:8090"
	ep := newBotEndpoint(t)
	b := setup(t, Config{UsersPerTenant: 10, InstalledFraction: 0.5, Seed: 6, BotEndpoint: ep.srv.URL + "/api/messages", PublicURL: public + "/"},
		withRealClock())
	t.Cleanup(b.sim.Close)

	installed := b.userWhere(t, func(u User) bool { return u.Installed })
	b.sim.Uninstall(b.tenant, installed.ID) // no request has reached the simulator yet
	require.Eventually(t, func() bool { return b.sim.Ledger().BotAnswers[http.StatusOK] == 1 }, 10*time.Second, 10*time.Millisecond)
	b.install(t, b.userWhere(t, notInstalled).ID)
	require.Eventually(t, func() bool { return b.sim.Ledger().BotAnswers[http.StatusOK] == 2 }, 10*time.Second, 10*time.Millisecond)

	authz, bodies := ep.received()
	require.Len(t, bodies, 2)
	require.Equal(t, "installationUpdate", bodies[0]["type"])
	require.Equal(t, "conversationUpdate", bodies[1]["type"])
	for i, a := range bodies {
		require.Equal(t, public+"/connector/", a["serviceUrl"], "activity %d", i)
		var claims jwt.MapClaims
		_, _, err := jwt.NewParser().ParseUnverified(strings.TrimPrefix(authz[i], "Bearer "), &claims)
		require.NoError(t, err)
		require.Equal(t, public+"/connector/", claims["serviceurl"], "activity %d", i)
	}
	md := b.do(t, http.MethodGet, BotOpenIDMetadataPath, "", nil).json(t)
	require.Equal(t, public+BotJWKSPath, md["jwks_uri"], "not %s, where the request came in", b.srv.URL)
}
