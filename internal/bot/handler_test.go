package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

const appID = "5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f"

type bundle struct {
	t       testing.TB
	sim     *teamsim.Sim
	simURL  string
	botURL  string
	store   *store.Store
	tenant  string
	logs    *observer.ObservedLogs
	service string // the serviceUrl activities come from
}

func setup(t *testing.T) *bundle { return setupWith(t, nil) }

// setupWith is setup with the handler's configuration adjusted by edit.
func setupWith(t testing.TB, edit func(*bot.Config)) *bundle {
	t.Helper()
	tenant := testenv.FreeTenant(t)
	sim, err := teamsim.New(teamsim.Config{Tenants: []string{tenant}, UsersPerTenant: 5, BotAppID: appID,
		BotAppPassword: "secret", TeamsAppID: "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"})
	require.NoError(t, err)
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)

	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)

	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(testenv.Logger(t).Core(), core))
	v, err := botauth.New(botauth.Config{OpenIDMetadataURL: simSrv.URL + teamsim.BotOpenIDMetadataPath,
		JWKSURL: simSrv.URL + teamsim.BotJWKSPath, AppID: appID, Logger: log})
	require.NoError(t, err)
	hosts, err := botauth.ParseServiceHosts("127.0.0.1")
	require.NoError(t, err)
	cfg := bot.Config{AppID: appID, Tenants: []string{tenant}, Hosts: hosts, MaxBody: 8 << 10}
	if edit != nil {
		edit(&cfg)
	}
	h := bot.New(cfg, v, st, log)
	botSrv := httptest.NewServer(h)
	t.Cleanup(botSrv.Close)
	return &bundle{t: t, sim: sim, simURL: simSrv.URL, botURL: botSrv.URL, store: st, tenant: tenant, logs: logs,
		service: simSrv.URL + "/connector/"}
}

// activity is an install (or other) activity of user u in b's tenant.
func (b *bundle) activity(typ, user, conv string) map[string]any {
	return map[string]any{
		"type": typ, "id": "f:1", "channelId": "msteams", "serviceUrl": b.service,
		"from":         map[string]any{"id": "29:x", "aadObjectId": user},
		"recipient":    map[string]any{"id": "28:" + appID},
		"conversation": map[string]any{"conversationType": "personal", "tenantId": b.tenant, "id": conv},
		"channelData":  map[string]any{"tenant": map[string]any{"id": b.tenant}},
	}
}

func (b *bundle) token(claims jwt.MapClaims) string {
	b.t.Helper()
	if claims == nil {
		claims = jwt.MapClaims{}
	}
	if _, ok := claims["serviceurl"]; !ok {
		claims["serviceurl"] = b.service
	}
	tok, err := b.sim.BotTokenWith(claims)
	require.NoError(b.t, err)
	return tok
}

func (b *bundle) post(body any, authz string) int {
	b.t.Helper()
	status, _ := b.postFor(body, authz)
	return status
}

// postFor posts an activity and returns the status and the body answered.
func (b *bundle) postFor(body any, authz string) (int, []byte) {
	b.t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(b.t, err)
	}
	req, err := http.NewRequest(http.MethodPost, b.botURL+bot.Path, bytes.NewReader(raw))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, out
}

func (b *bundle) conversation(user string) string {
	b.t.Helper()
	m, err := b.store.Conversations(context.Background(), b.tenant, []string{user})
	require.NoError(b.t, err)
	return m[user]
}

// noTokenLogged checks that no log entry carries a JWT.
func (b *bundle) noTokenLogged() {
	b.t.Helper()
	for _, e := range b.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		require.NotContains(b.t, line, "eyJ", "a log entry carries a JWT")
	}
}

func toString(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func user(n int) string { return "00000000-0000-0000-0000-00000000000" + string(rune('0'+n)) }

func TestInstallAndUninstallKeepTheCache(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	// conversationUpdate adding the bot caches the conversation.
	up := b.activity("conversationUpdate", user(1), "19:one@unq.gbl.spaces")
	up["membersAdded"] = []map[string]any{{"id": "28:" + appID}}
	require.Equal(t, http.StatusOK, b.post(up, "Bearer "+b.token(nil)))
	require.Equal(t, "19:one@unq.gbl.spaces", b.conversation(user(1)))

	// installationUpdate add, with the tenant in channelData only and
	// upper-case ids.
	add := b.activity("installationUpdate", strings.ToUpper(user(2)), "a:two")
	add["action"] = "add"
	add["conversation"].(map[string]any)["tenantId"] = ""
	add["channelData"] = map[string]any{"tenant": map[string]any{"id": strings.ToUpper(b.tenant)}}
	require.Equal(t, http.StatusOK, b.post(add, "Bearer "+b.token(nil)))
	require.Equal(t, "a:two", b.conversation(user(2)))

	// installationUpdate remove forgets it and records the uninstall.
	rm := b.activity("installationUpdate", user(1), "19:one@unq.gbl.spaces")
	rm["action"] = "remove"
	require.Equal(t, http.StatusOK, b.post(rm, "Bearer "+b.token(nil)))
	require.Empty(t, b.conversation(user(1)))
	at, uninstalled, err := b.store.Uninstalled(ctx, b.tenant, user(1))
	require.NoError(t, err)
	require.True(t, uninstalled)
	require.WithinDuration(t, time.Now(), at, time.Minute)

	// The bot in membersRemoved does the same.
	gone := b.activity("conversationUpdate", user(2), "a:two")
	gone["membersRemoved"] = []map[string]any{{"id": "28:" + appID}}
	require.Equal(t, http.StatusOK, b.post(gone, "Bearer "+b.token(nil)))
	require.Empty(t, b.conversation(user(2)))

	// A new install clears the uninstall.
	require.Equal(t, http.StatusOK, b.post(up, "Bearer "+b.token(nil)))
	_, uninstalled, err = b.store.Uninstalled(ctx, b.tenant, user(1))
	require.NoError(t, err)
	require.False(t, uninstalled)
	b.noTokenLogged()
}

func TestOtherActivitiesAreAcceptedAndIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, typ := range []string{"message", "messageUpdate", "messageDelete", "messageReaction", "typing", "invoke"} {
		require.Equal(t, http.StatusOK, b.post(b.activity(typ, user(3), "a:three"), "Bearer "+b.token(nil)), typ)
	}
	receipt := b.activity("event", user(3), "a:three")
	receipt["name"] = "application/vnd.microsoft.readReceipt"
	receipt["value"] = map[string]any{"lastReadMessageId": "1692206589131"}
	require.Equal(t, http.StatusOK, b.post(receipt, "Bearer "+b.token(nil)))
	// A conversationUpdate about someone else, an upgrade's remove.
	other := b.activity("conversationUpdate", user(3), "a:three")
	other["membersAdded"] = []map[string]any{{"id": "29:someone"}}
	require.Equal(t, http.StatusOK, b.post(other, "Bearer "+b.token(nil)))
	up := b.activity("installationUpdate", user(3), "a:three")
	up["action"] = "remove-upgrade"
	require.Equal(t, http.StatusOK, b.post(up, "Bearer "+b.token(nil)))
	// An install in a team or group chat, and in a tenant not served.
	team := b.activity("installationUpdate", user(3), "19:team@thread.tacv2")
	team["action"] = "add"
	team["conversation"].(map[string]any)["conversationType"] = "channel"
	require.Equal(t, http.StatusOK, b.post(team, "Bearer "+b.token(nil)))
	foreign := b.activity("installationUpdate", user(3), "a:three")
	foreign["action"] = "add"
	foreign["conversation"].(map[string]any)["tenantId"] = "99999999-9999-9999-9999-999999999999"
	require.Equal(t, http.StatusOK, b.post(foreign, "Bearer "+b.token(nil)))
	require.Empty(t, b.conversation(user(3)))
	// An install without ids is not an install the cache can use.
	bad := b.activity("installationUpdate", "not-a-guid", "a:three")
	bad["action"] = "add"
	require.Equal(t, http.StatusBadRequest, b.post(bad, "Bearer "+b.token(nil)))
	noConv := b.activity("installationUpdate", user(3), "")
	noConv["action"] = "add"
	require.Equal(t, http.StatusBadRequest, b.post(noConv, "Bearer "+b.token(nil)))
}

func TestRejectedRequestsStoreNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	add := b.activity("installationUpdate", user(4), "a:four")
	add["action"] = "add"

	for name, c := range map[string]struct {
		authz  string
		body   any
		status int
	}{
		"no token":           {"", add, http.StatusUnauthorized},
		"basic auth":         {"Basic YTpi", add, http.StatusUnauthorized},
		"wrong audience":     {"Bearer " + b.token(jwt.MapClaims{"aud": "another-bot"}), add, http.StatusUnauthorized},
		"wrong issuer":       {"Bearer " + b.token(jwt.MapClaims{"iss": "https://evil.example"}), add, http.StatusUnauthorized},
		"expired":            {"Bearer " + b.token(jwt.MapClaims{"exp": time.Now().Add(-10 * time.Minute).Unix()}), add, http.StatusUnauthorized},
		"tampered":           {"Bearer " + b.token(nil) + "x", add, http.StatusUnauthorized},
		"another serviceUrl": {"Bearer " + b.token(jwt.MapClaims{"serviceurl": "http://127.0.0.1:1/connector/"}), add, http.StatusForbidden},
		"not JSON":           {"Bearer " + b.token(nil), []byte("{not json"), http.StatusBadRequest},
		"not an activity":    {"Bearer " + b.token(nil), map[string]any{"hello": "world"}, http.StatusBadRequest},
		"too large":          {"Bearer " + b.token(nil), []byte(`{"type":"message","text":"` + strings.Repeat("x", 9<<10) + `"}`), http.StatusRequestEntityTooLarge},
	} {
		require.Equal(t, c.status, b.post(c.body, c.authz), name)
	}
	// A valid token for a serviceUrl outside the allow-list.
	evil := b.activity("installationUpdate", user(4), "a:four")
	evil["action"] = "add"
	evil["serviceUrl"] = "https://evil.example/teams/"
	require.Equal(t, http.StatusForbidden, b.post(evil, "Bearer "+b.token(jwt.MapClaims{"serviceurl": "https://evil.example/teams/"})))
	require.Empty(t, b.conversation(user(4)))
	b.noTokenLogged()

	// The method is POST only.
	resp, err := http.Get(b.botURL + bot.Path)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// Not parallel: the counters are the process's, and the package's other
// tests post activities too.
func TestActivitiesAreCounted(t *testing.T) {
	b := setup(t)
	count := func() map[string]float64 {
		f, err := metrics.Gather(metrics.Registry)
		require.NoError(t, err)
		out := map[string]float64{}
		for _, k := range []struct{ outcome, code string }{
			{metrics.BotInstalled, "200"}, {metrics.BotUninstalled, "200"}, {metrics.BotIgnored, "200"}, {metrics.BotDuplicate, "200"},
			{metrics.BotEngaged, "200"},
			{metrics.BotRejected, "401"}, {metrics.BotRejected, "400"},
		} {
			out[k.outcome+"/"+k.code], _ = f.Sum("broadcast_bot_activities_total", map[string]string{"outcome": k.outcome, "code": k.code})
		}
		for _, kind := range []string{metrics.EngageReceipt, metrics.EngageRead} {
			out[kind], _ = f.Sum("broadcast_engagement_total", map[string]string{"kind": kind})
		}
		return out
	}
	before := count()
	add := b.activity("installationUpdate", user(5), "a:five")
	add["action"] = "add"
	require.Equal(t, http.StatusOK, b.post(add, "Bearer "+b.token(nil)))
	// Teams announces the same install as a conversationUpdate too.
	up := b.activity("conversationUpdate", user(5), "a:five")
	up["membersAdded"] = []map[string]any{{"id": "28:" + appID}}
	require.Equal(t, http.StatusOK, b.post(up, "Bearer "+b.token(nil)))
	rm := b.activity("installationUpdate", user(5), "a:five")
	rm["action"] = "remove"
	require.Equal(t, http.StatusOK, b.post(rm, "Bearer "+b.token(nil)))
	require.Equal(t, http.StatusOK, b.post(b.activity("message", user(5), "a:five"), "Bearer "+b.token(nil)))
	require.Equal(t, http.StatusUnauthorized, b.post(add, ""))
	require.Equal(t, http.StatusBadRequest, b.post([]byte("{not json"), "Bearer "+b.token(nil)))
	// A receipt reading a broadcast, twice: one read.
	b.broadcastTo(text, map[string]string{user(6): "600"})
	require.Equal(t, http.StatusOK, b.receipt(user(6), "600"))
	require.Equal(t, http.StatusOK, b.receipt(user(6), "600"))

	after := count()
	for k, want := range map[string]float64{"engaged/200": 2, "receipt": 2, "read": 1, "installed/200": 1, "duplicate/200": 1, "uninstalled/200": 1, "ignored/200": 1, "rejected/401": 1, "rejected/400": 1} {
		require.Equal(t, want, after[k]-before[k], k)
	}
}
