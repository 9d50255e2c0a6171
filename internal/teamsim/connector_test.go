package teamsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCreateConversation(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 20, InstalledFraction: 0.5, Seed: 2})
	conn, graph := b.connectorToken(t), b.graphToken(t)
	user := b.userWhere(t, notInstalled)

	r := b.createConversation(t, conn, user.ID)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "ForbiddenOperationException", r.errorCode(t))

	r = b.do(t, http.MethodPost, "/graph/v1.0/users/"+user.ID+"/teamwork/installedApps", graph,
		map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + b.sim.tenants[b.tenant].catalogID})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

	r = b.createConversation(t, conn, user.ID)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["id"].(string)
	require.True(t, strings.HasPrefix(id, "a:"), id)

	// The same conversation again, and by the "29:" member id.
	r = b.do(t, http.MethodPost, "/connector/v3/conversations", conn, map[string]any{
		"bot": map[string]string{"id": "28:" + testBotAppID}, "members": []map[string]string{{"id": "29:" + user.ID}},
		"channelData": map[string]any{"tenant": map[string]string{"id": b.tenant}},
	})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, id, r.json(t)["id"])

	require.Equal(t, http.StatusCreated, b.send(t, conn, id, hello).status)

	for _, tc := range []struct {
		name string
		body any
	}{
		{"not JSON", "{"},
		{"group", map[string]any{"isGroup": true, "members": []map[string]string{{"aadObjectId": user.ID}}, "tenantId": b.tenant}},
		{"no members", map[string]any{"tenantId": b.tenant}},
		{"no tenant", map[string]any{"members": []map[string]string{{"aadObjectId": user.ID}}}},
	} {
		r := b.do(t, http.MethodPost, "/connector/v3/conversations", conn, tc.body)
		require.Equal(t, http.StatusBadRequest, r.status, tc.name)
		require.Equal(t, "BadArgument", r.errorCode(t), tc.name)
	}
	require.EqualValues(t, 7, b.sim.Ledger().Requests[KindConnectorCreate])
}

func TestSendAndLedger(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 10, InstalledFraction: 1})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	a, c := users[0], users[1]
	convA, convC := b.conversation(t, conn, a.ID), b.conversation(t, conn, c.ID)

	r := b.send(t, conn, convA, hello)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	first := r.json(t)["id"].(string)
	require.NotEmpty(t, first)

	// Same content again to a: a duplicate, whatever the escaping of the path.
	r = b.do(t, http.MethodPost, "/connector/v3/conversations/"+convA+"/activities", conn, hello)
	require.Equal(t, http.StatusCreated, r.status, "unescaped id: %s", r.body)
	require.NotEqual(t, first, r.json(t)["id"])
	require.Equal(t, http.StatusCreated, b.send(t, conn, convA, `{"type":"message","text":"Something else"}`).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, convC, hello).status)

	l := b.sim.Ledger()
	require.EqualValues(t, 4, l.Deliveries)
	require.EqualValues(t, 2, l.DeliveredUsers)
	require.EqualValues(t, 1, l.Duplicates)
	require.EqualValues(t, 4, l.Requests[KindConnectorSend])
	require.EqualValues(t, 2+4, l.Status[http.StatusCreated]) // two creates, four sends

	da := b.sim.UserDeliveries(b.tenant, a.ID)
	require.Len(t, da, 3)
	require.Equal(t, first, da[0].ActivityID)
	require.Equal(t, da[0].ContentHash, da[1].ContentHash)
	require.NotEqual(t, da[0].ContentHash, da[2].ContentHash)
	require.False(t, da[0].At.IsZero())
	require.Len(t, b.sim.UserDeliveries(b.tenant, c.ID), 1)
	require.Nil(t, b.sim.UserDeliveries(b.tenant, "nobody"))

	b.sim.Reset()
	l = b.sim.Ledger()
	require.Zero(t, l.Deliveries)
	require.Zero(t, l.Requests[KindConnectorSend])
	require.Empty(t, b.sim.UserDeliveries(b.tenant, a.ID))
	// The messages still exist in Teams: they can be updated after a Reset.
	require.Equal(t, http.StatusOK, b.do(t, http.MethodPut, convPath(convA)+"/"+first, conn, `{"type":"message","text":"edited"}`).status)
}

func TestCardsHashByContent(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
	conn := b.connectorToken(t)
	conv := b.conversation(t, conn, b.sim.Users(b.tenant)[0].ID)
	card := func(text string) string {
		return `{"type":"message","summary":"preview","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + text + `"}]}}]}`
	}
	r := b.send(t, conn, conv, card("one"))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.NotEmpty(t, r.json(t)["id"])
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, card("two")).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, card("one")).status)
	require.EqualValues(t, 1, b.sim.Ledger().Duplicates)

	// Text and a card in one activity: Teams splits it and gives no id.
	r = b.send(t, conn, conv, `{"type":"message","text":"hi","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{}}]}`)
	require.Equal(t, http.StatusCreated, r.status)
	require.NotContains(t, r.json(t), "id")
}

func TestRefusedSends(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 200, InstalledFraction: 1, BlockedFraction: 0.2, DisabledFraction: 0.1, Seed: 5})
	conn := b.connectorToken(t)

	// Blocking is checked on send: creating the conversation still works.
	blockedCode := b.userWhere(t, func(u User) bool { return u.Blocked && !u.Disabled && u.BlockShape == BlockShapeCode })
	r := b.send(t, conn, b.conversation(t, conn, blockedCode.ID), hello)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "ConversationBlockedByUser", r.errorCode(t))

	blocked209 := b.userWhere(t, func(u User) bool { return u.Blocked && !u.Disabled && u.BlockShape == BlockShape209 })
	r = b.send(t, conn, b.conversation(t, conn, blocked209.ID), hello)
	require.Equal(t, http.StatusForbidden, r.status)
	m := r.json(t)
	require.EqualValues(t, 209, m["errorCode"])
	require.Contains(t, m["message"], `"subCode": "MessageWritesBlocked"`)
	require.NotContains(t, m, "error")

	disabled := b.userWhere(t, func(u User) bool { return u.Disabled })
	r = b.createConversation(t, conn, disabled.ID)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "BotDisabledByAdmin", r.errorCode(t))
	r = b.send(t, conn, b.sim.users(t, disabled.ID).conv.chatID, hello)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "BotDisabledByAdmin", r.errorCode(t))

	r = b.send(t, conn, "a:1doesNotExist", hello)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "ConversationNotFound", r.errorCode(t))

	require.Zero(t, b.sim.Ledger().Deliveries)
	require.EqualValues(t, 4, b.sim.Ledger().Status[http.StatusForbidden])
}

// users returns a user's state, for tests that need what the API does
// not show.
func (s *Sim) users(t *testing.T, userID string) *userState {
	t.Helper()
	u, err := s.user(s.order[0].id, userID)
	require.NoError(t, err)
	return u
}

func TestUninstallAndReinstall(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5, InstalledFraction: 1})
	conn, graph := b.connectorToken(t), b.graphToken(t)
	user := b.sim.Users(b.tenant)[0]
	conv := b.conversation(t, conn, user.ID)
	oldChat := b.sim.users(t, user.ID).conv.chatID
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)

	b.sim.Uninstall(b.tenant, user.ID)
	require.False(t, b.sim.Users(b.tenant)[0].Installed)
	for _, id := range []string{conv, oldChat} {
		r := b.send(t, conn, id, hello)
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, "BotNotInConversationRoster", r.errorCode(t))
	}
	r := b.createConversation(t, conn, user.ID)
	require.Equal(t, "ForbiddenOperationException", r.errorCode(t))

	catalogID := b.sim.tenants[b.tenant].catalogID
	base := "/graph/v1.0/users/" + user.ID + "/teamwork/installedApps"
	r = b.do(t, http.MethodPost, base, graph, map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + catalogID})
	require.Equal(t, http.StatusCreated, r.status)
	inst := b.do(t, http.MethodGet, base+"?$filter="+url.QueryEscape("teamsApp/id eq '"+catalogID+"'"), graph, nil).json(t)["value"].([]any)[0].(map[string]any)["id"].(string)
	newChat := b.do(t, http.MethodGet, base+"/"+inst+"/chat", graph, nil).json(t)["id"].(string)
	require.NotEqual(t, oldChat, newChat)
	require.True(t, strings.HasPrefix(newChat, "19:") && strings.HasSuffix(newChat, "@unq.gbl.spaces"), newChat)

	require.Equal(t, http.StatusCreated, b.send(t, conn, newChat, hello).status)
	newConv := b.conversation(t, conn, user.ID)
	require.NotEqual(t, conv, newConv)
	require.Equal(t, http.StatusCreated, b.send(t, conn, newConv, `{"type":"message","text":"again"}`).status)
	r = b.send(t, conn, oldChat, hello)
	require.Equal(t, "BotNotInConversationRoster", r.errorCode(t), "the old installation's chat stays gone")
	require.Len(t, b.sim.UserDeliveries(b.tenant, user.ID), 3)
}

func TestInvalidActivities(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
	conn := b.connectorToken(t)
	conv := b.conversation(t, conn, b.sim.Users(b.tenant)[0].ID)
	for _, body := range []string{
		`{`,
		`[]`,
		`{"text":"no type"}`,
		`{"type":"typing"}`,
		`{"type":"message"}`,
		`{"type":"message","text":"   "}`,
		`{"type":"message","attachments":[{"content":{}}]}`,
	} {
		r := b.send(t, conn, conv, body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
		require.Equal(t, "BadArgument", r.errorCode(t), body)
	}
	require.Zero(t, b.sim.Ledger().Deliveries)
}

func TestMessageSizeLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
	conn := b.connectorToken(t)
	conv := b.conversation(t, conn, b.sim.Users(b.tenant)[0].ID)
	const prefix, suffix = `{"type":"message","text":"`, `"}`
	frame := len(prefix) + len(suffix)

	// "é" is 2 bytes but 1 UTF-16 unit; "😀" 4 bytes and 2 units.
	for _, tc := range []struct {
		name   string
		text   string
		status int
	}{
		{"at the limit, 2-byte characters", strings.Repeat("é", maxActivityUnits-frame), http.StatusCreated},
		{"one over, 2-byte characters", strings.Repeat("é", maxActivityUnits-frame+1), http.StatusRequestEntityTooLarge},
		{"at the limit, emoji", strings.Repeat("😀", (maxActivityUnits-frame)/2), http.StatusCreated},
		{"one over, emoji", strings.Repeat("😀", (maxActivityUnits-frame)/2) + "ab", http.StatusRequestEntityTooLarge},
		{"far over", strings.Repeat("€", 400_000), http.StatusRequestEntityTooLarge},
	} {
		body := prefix + tc.text + suffix
		r := b.send(t, conn, conv, body)
		require.Equal(t, tc.status, r.status, "%s (%d units, %d bytes)", tc.name, utf16Units([]byte(body)), len(body))
		if tc.status == http.StatusRequestEntityTooLarge {
			require.Equal(t, "MessageSizeTooBig", r.errorCode(t))
		}
	}
}

func TestUpdateAndDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3, InstalledFraction: 1})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	conv := b.conversation(t, conn, users[0].ID)
	otherConv := b.conversation(t, conn, users[1].ID)
	id := b.send(t, conn, conv, hello).json(t)["id"].(string)

	r := b.do(t, http.MethodPut, convPath(conv)+"/"+id, conn, `{"type":"message","text":"corrected"}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, id, r.json(t)["id"])
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPut, convPath(conv)+"/"+id, conn, `{"type":"message"}`).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPut, convPath(otherConv)+"/"+id, conn, hello).status, "another conversation's message")
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPut, convPath(conv)+"/123", conn, hello).status)

	// The chat holds the corrected message; its history says what it was.
	sent, corrected := ContentHash([]byte(hello)), ContentHash([]byte(`{"type":"message","text":"corrected"}`))
	require.Equal(t, []Activity{{ID: id, ContentHash: corrected, History: []string{sent, corrected}, Updates: 1}}, b.sim.UserActivities(b.tenant, users[0].ID))
	require.Empty(t, b.sim.UserActivities(b.tenant, users[1].ID))

	// Injected faults answer updates and deletes too.
	b.sim.Inject(b.tenant, users[0].ID, Fault{Status: http.StatusServiceUnavailable, Times: 1})
	require.Equal(t, http.StatusServiceUnavailable, b.do(t, http.MethodDelete, convPath(conv)+"/"+id, conn, nil).status)

	require.Equal(t, http.StatusOK, b.do(t, http.MethodDelete, convPath(conv)+"/"+id, conn, nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodDelete, convPath(conv)+"/"+id, conn, nil).status, "already deleted")
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPut, convPath(conv)+"/"+id, conn, hello).status)

	acts := b.sim.UserActivities(b.tenant, users[0].ID)
	require.Len(t, acts, 1)
	require.True(t, acts[0].Deleted)
	require.Equal(t, corrected, acts[0].ContentHash)

	l := b.sim.Ledger()
	require.EqualValues(t, 1, l.Updates)
	require.EqualValues(t, 1, l.Deletes)
	require.EqualValues(t, 5, l.Requests[KindConnectorUpdate])
	require.EqualValues(t, 3, l.Requests[KindConnectorDelete])
}
