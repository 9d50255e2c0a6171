package teamsim

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/botauth"
)

// engageBot is a bot endpoint that authenticates every post with the
// simulator's published keys (as the product's bot does), records it, and
// answers invokes with answer (by default a valid card).
type engageBot struct {
	t   *testing.T
	srv *httptest.Server
	v   *botauth.Validator

	mu       sync.Mutex
	posts    []map[string]any
	authErrs []error
	inFlight int
	maxIn    int
	hold     chan struct{} // when set, posts wait for it to close
	answer   func(w http.ResponseWriter, a map[string]any)
}

func newEngageBot(t *testing.T) *engageBot {
	e := &engageBot{t: t}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

// trust makes the bot validate with the simulator's keys.
func (e *engageBot) trust(t *testing.T, b *testBundle) {
	v, err := botauth.New(botauth.Config{OpenIDMetadataURL: b.srv.URL + BotOpenIDMetadataPath, JWKSURL: b.srv.URL + BotJWKSPath, AppID: testBotAppID})
	require.NoError(t, err)
	e.mu.Lock()
	e.v = v
	e.mu.Unlock()
}

func (e *engageBot) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var a map[string]any
	_ = json.Unmarshal(raw, &a)
	e.mu.Lock()
	v, hold, answer := e.v, e.hold, e.answer
	e.inFlight++
	e.maxIn = max(e.maxIn, e.inFlight)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if v != nil {
		serviceURL, _ := a["serviceUrl"].(string)
		channel, _ := a["channelId"].(string)
		if _, err := v.Validate(r.Context(), r.Header.Get("Authorization"), botauth.Activity{ServiceURL: serviceURL, ChannelID: channel}); err != nil {
			e.mu.Lock()
			e.authErrs = append(e.authErrs, err)
			e.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	e.mu.Lock()
	e.posts = append(e.posts, a)
	e.mu.Unlock()
	if a["type"] != "invoke" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if answer == nil {
		answer = answerCard
	}
	answer(w, a)
}

func answerCard(w http.ResponseWriter, _ map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Acknowledged"}]}}`)
}

func (e *engageBot) received() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Empty(e.t, e.authErrs, "every post authenticates")
	return append([]map[string]any(nil), e.posts...)
}

// ackCard is a message whose card has an acknowledge button (in an
// ActionSet) besides a refresh action, which is not a user's click.
const ackCard = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{
"type":"AdaptiveCard","version":"1.5","refresh":{"action":{"type":"Action.Execute","verb":"refresh"}},
"body":[{"type":"TextBlock","text":"Please confirm"},{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"Got it","verb":"ack","data":{"broadcast":"b1"}}]}]}}]}`

func engageSetup(t *testing.T, e Engagement, opts ...setupOpt) (*testBundle, *engageBot) {
	t.Helper()
	bot := newEngageBot(t)
	b := setup(t, Config{UsersPerTenant: 20, InstalledFraction: 1, Seed: 14, BotEndpoint: bot.srv.URL + "/api/messages", Engagement: e}, opts...)
	t.Cleanup(b.sim.Close)
	if b.clock == nil { // tokens signed on a fake clock are not valid now
		bot.trust(t, b)
	}
	return b, bot
}

// sendTo sends activity to the user and returns its id.
func (b *testBundle) sendTo(t *testing.T, token, user, activity string) string {
	t.Helper()
	r := b.send(t, token, b.conversation(t, token, user), activity)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

func byType(posts []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range posts {
		out[p["type"].(string)] = p
	}
	return out
}

func TestEngagementPostsWhatTeamsPosts(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{Read: 1, ReceiptsOn: 1, Acknowledge: 1, React: 1, Reply: 1}, withRealClock())
	token := b.connectorToken(t)
	user := b.userWhere(t, deliverable)
	id := b.sendTo(t, token, user.ID, ackCard)

	require.Eventually(t, func() bool {
		return len(b.sim.UserEngagement(b.tenant, user.ID)) == 4 && b.sim.Ledger().Engagement.Pending == 0
	}, 10*time.Second, 5*time.Millisecond)
	posts := bot.received()
	require.Len(t, posts, 4)
	chat := b.sim.tenants[b.tenant].byKey[user.ID].conv.chatID
	for _, p := range posts {
		require.Equal(t, BotChannel, p["channelId"])
		require.Equal(t, b.srv.URL+"/connector/", p["serviceUrl"])
		require.Equal(t, user.ID, p["from"].(map[string]any)["aadObjectId"])
		require.Equal(t, "28:"+testBotAppID, p["recipient"].(map[string]any)["id"])
		conv := p["conversation"].(map[string]any)
		require.Equal(t, "personal", conv["conversationType"])
		require.Equal(t, b.tenant, conv["tenantId"])
		require.Equal(t, chat, conv["id"])
	}
	got := byType(posts)
	require.Equal(t, "application/vnd.microsoft.readReceipt", got["event"]["name"])
	require.Equal(t, map[string]any{"lastReadMessageId": id}, got["event"]["value"])
	require.Equal(t, id, got["messageReaction"]["replyToId"])
	require.Len(t, got["messageReaction"]["reactionsAdded"], 1)
	require.Equal(t, "adaptiveCard/action", got["invoke"]["name"])
	require.Equal(t, id, got["invoke"]["replyToId"])
	require.Equal(t, map[string]any{"trigger": "manual", "action": map[string]any{"type": "Action.Execute", "verb": "ack",
		"data": map[string]any{"broadcast": "b1"}}}, got["invoke"]["value"], "the button's verb and data, not the refresh's")
	require.NotEmpty(t, got["message"]["text"])
	require.Nil(t, got["message"]["replyToId"])

	l := b.sim.Ledger().Engagement
	require.Equal(t, EngagementLedger{Reads: 1, Receipts: 1, Reactions: 1, Replies: 1, Invokes: 1, InvokesValid: 1,
		Answers: map[int]int64{http.StatusOK: 4}}, l)
	acts := b.sim.UserActivities(b.tenant, user.ID)
	require.Len(t, acts, 1)
	require.Len(t, acts[0].History, 2, "the invoke response's card replaced the user's copy")
	require.Zero(t, acts[0].Updates)
}

// Duplicate posts an activity again with the same id, as Teams may; an
// invoke never.
func TestEngagementDuplicates(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{Read: 1, ReceiptsOn: 1, React: 1, Acknowledge: 1, Duplicate: 1})
	token := b.connectorToken(t)
	user := b.userWhere(t, deliverable)
	b.sendTo(t, token, user.ID, ackCard)
	require.Eventually(t, func() bool {
		return len(b.sim.UserEngagement(b.tenant, user.ID)) == 5 && b.sim.Ledger().Engagement.Pending == 0
	}, 10*time.Second, 5*time.Millisecond)
	ids := map[string][]string{}
	for _, p := range bot.received() {
		ids[p["type"].(string)] = append(ids[p["type"].(string)], p["id"].(string))
	}
	require.Len(t, ids["event"], 2)
	require.Equal(t, ids["event"][0], ids["event"][1], "the same activity twice")
	require.Len(t, ids["messageReaction"], 2)
	require.Equal(t, ids["messageReaction"][0], ids["messageReaction"][1])
	require.Len(t, ids["invoke"], 1)
	require.NotEqual(t, ids["event"][0], ids["messageReaction"][0])
	l := b.sim.Ledger().Engagement
	require.EqualValues(t, 2, l.Duplicates)
	require.EqualValues(t, 2, l.DuplicatesTaken)
	require.EqualValues(t, 1, l.Receipts)
	require.EqualValues(t, 1, l.Reactions)
}

// A user whose receipts are off reads (counted) but posts no receipt, and
// still acknowledges: a missing receipt means unknown, not unread.
func TestEngagementReceiptsOff(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{Read: 1, ReceiptsOn: 0, Acknowledge: 1})
	token := b.connectorToken(t)
	user := b.userWhere(t, deliverable)
	id := b.sendTo(t, token, user.ID, ackCard)
	require.Eventually(t, func() bool { return len(b.sim.UserEngagement(b.tenant, user.ID)) == 2 }, 10*time.Second, 5*time.Millisecond)
	got := map[string]Engaged{}
	for _, e := range b.sim.UserEngagement(b.tenant, user.ID) {
		got[e.Kind] = e
	}
	require.False(t, got[EngageRead].Posted)
	require.Equal(t, id, got[EngageRead].ActivityID)
	require.True(t, got[EngageAcknowledge].Posted)
	require.Equal(t, InvokeValid, got[EngageAcknowledge].Invoke)
	require.Len(t, bot.received(), 1)
	l := b.sim.Ledger().Engagement
	require.EqualValues(t, 1, l.Reads)
	require.Zero(t, l.Receipts)
}

// The shares are drawn per user from the seed: the same seed gives the
// same readers; a message without Action.Execute is never acknowledged.
func TestEngagementSharesAreSeeded(t *testing.T) {
	t.Parallel()
	readers := func() map[string]bool {
		b, _ := engageSetup(t, Engagement{Read: 0.5, ReceiptsOn: 1, Acknowledge: 1})
		token := b.connectorToken(t)
		users := b.sim.Users(b.tenant)
		for _, u := range users {
			if deliverable(u) {
				b.sendTo(t, token, u.ID, hello)
			}
		}
		out := map[string]bool{}
		require.Eventually(t, func() bool { return b.sim.Ledger().Engagement.Pending == 0 }, 10*time.Second, 5*time.Millisecond)
		for _, u := range users {
			for _, e := range b.sim.UserEngagement(b.tenant, u.ID) {
				require.Equal(t, EngageRead, e.Kind, "no card, no acknowledge")
				out[u.ID] = true
			}
		}
		return out
	}
	first := readers()
	require.NotEmpty(t, first)
	require.Less(t, len(first), 20)
	require.Equal(t, first, readers())
}

func TestInvokeResponsesAreChecked(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{})
	token := b.connectorToken(t)
	user := b.userWhere(t, deliverable)
	id := b.sendTo(t, token, user.ID, ackCard)
	body := func(s string) func(http.ResponseWriter, map[string]any) {
		return func(w http.ResponseWriter, _ map[string]any) { _, _ = io.WriteString(w, s) }
	}
	cases := []struct {
		name    string
		answer  func(http.ResponseWriter, map[string]any)
		outcome string
		reason  string
	}{
		{"card", answerCard, InvokeValid, ""},
		{"message", body(`{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"Thanks, noted."}`), InvokeValid, ""},
		{"bare 200", func(w http.ResponseWriter, _ map[string]any) { w.WriteHeader(http.StatusOK) }, InvokeInvalid, "empty body"},
		{"not 200", func(w http.ResponseWriter, _ map[string]any) { w.WriteHeader(http.StatusAccepted) }, InvokeInvalid, "HTTP status 202"},
		{"statusCode", body(`{"statusCode":500,"type":"application/vnd.microsoft.activity.message","value":"x"}`), InvokeInvalid, "statusCode 500"},
		{"no statusCode", body(`{"type":"application/vnd.microsoft.activity.message","value":"x"}`), InvokeInvalid, "statusCode is missing"},
		{"type", body(`{"statusCode":200,"type":"text/plain","value":"x"}`), InvokeInvalid, `type "text/plain"`},
		{"card value", body(`{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":"x"}`), InvokeInvalid, "not an Adaptive Card"},
		{"message value", body(`{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":{}}`), InvokeInvalid, "not a string"},
		{"late", func(w http.ResponseWriter, a map[string]any) {
			b.clock.Advance(DefaultInvokeDeadline + time.Second) // the answer takes 6 s on the simulator's clock
			answerCard(w, a)
		}, InvokeLate, "answered after 6s"},
	}
	for _, c := range cases {
		bot.mu.Lock()
		bot.answer = c.answer
		bot.mu.Unlock()
		out, err := b.sim.Engage(context.Background(), EngageRequest{Tenant: b.tenant, User: user.ID, Kind: EngageAcknowledge, ActivityID: id})
		require.NoError(t, err, c.name)
		require.Equal(t, c.outcome, out.Invoke, c.name)
		require.Contains(t, out.Reason, c.reason, c.name)
		require.Equal(t, "ack", out.Verb, c.name)
	}
	bot.mu.Lock()
	bot.answer = nil
	bot.mu.Unlock()
	l := b.sim.Ledger().Engagement
	require.EqualValues(t, len(cases), l.Invokes)
	require.EqualValues(t, 2, l.InvokesValid)
	require.EqualValues(t, len(cases)-3, l.InvokesInvalid)
	require.EqualValues(t, 1, l.InvokesLate)

	// Engage checks its request.
	_, err := b.sim.Engage(context.Background(), EngageRequest{Tenant: b.tenant, User: user.ID, Kind: "wave", ActivityID: id})
	require.ErrorContains(t, err, "kind")
	_, err = b.sim.Engage(context.Background(), EngageRequest{Tenant: b.tenant, User: user.ID, Kind: EngageRead, ActivityID: "42"})
	require.ErrorContains(t, err, "no message")
	plain := b.sendTo(t, token, user.ID, hello)
	_, err = b.sim.Engage(context.Background(), EngageRequest{Tenant: b.tenant, User: user.ID, Kind: EngageAcknowledge, ActivityID: plain})
	require.ErrorContains(t, err, "no Action.Execute")
	out, err := b.sim.Engage(context.Background(), EngageRequest{Tenant: b.tenant, User: user.ID, Kind: EngageAcknowledge, ActivityID: plain,
		Verb: "custom", Data: json.RawMessage(`{"k":1}`)})
	require.NoError(t, err)
	require.Equal(t, InvokeValid, out.Invoke)
	last := bot.received()
	require.Equal(t, map[string]any{"type": "Action.Execute", "verb": "custom", "data": map[string]any{"k": float64(1)}},
		last[len(last)-1]["value"].(map[string]any)["action"])
}

// The control endpoint posts the same engagement as Engage; a reaction
// can be taken back; a reply needs no message.
func TestEngageControlEndpoint(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{})
	token := b.connectorToken(t)
	user := b.userWhere(t, deliverable)
	id := b.sendTo(t, token, user.ID, hello)
	r := b.do(t, http.MethodPost, "/_sim/engage", "", map[string]any{"tenant": b.tenant, "user": user.ID, "kind": "reaction", "activityId": id, "reaction": "heart", "removed": true})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, true, r.json(t)["posted"])
	r = b.do(t, http.MethodPost, "/_sim/engage", "", map[string]any{"tenant": b.tenant, "user": user.ID, "kind": "reply", "text": "Is this for me?"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = b.do(t, http.MethodPost, "/_sim/engage", "", map[string]any{"tenant": b.tenant, "user": user.ID, "kind": "read", "activityId": "nope"})
	require.Equal(t, http.StatusBadRequest, r.status)
	posts := bot.received()
	require.Len(t, posts, 2)
	require.Equal(t, []any{map[string]any{"type": "heart"}}, posts[0]["reactionsRemoved"])
	require.Nil(t, posts[0]["reactionsAdded"])
	require.Equal(t, "Is this for me?", posts[1]["text"])
	r = b.do(t, http.MethodGet, "/_sim/users/"+b.tenant+"/"+user.ID+"/engagement", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	var got []Engaged
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.Len(t, got, 2)
	require.Equal(t, EngageReply, got[1].Kind)
}

// Posts in flight never exceed Concurrency; Close drops what is planned
// and stops the posters.
func TestEngagementIsBoundedAndStops(t *testing.T) {
	t.Parallel()
	b, bot := engageSetup(t, Engagement{Read: 1, ReceiptsOn: 1, Concurrency: 2}, withRealClock())
	hold := make(chan struct{})
	bot.mu.Lock()
	bot.hold = hold
	bot.mu.Unlock()
	token := b.connectorToken(t)
	n := 0
	for _, u := range b.sim.Users(b.tenant) {
		if deliverable(u) {
			b.sendTo(t, token, u.ID, hello)
			n++
		}
	}
	require.Eventually(t, func() bool { bot.mu.Lock(); defer bot.mu.Unlock(); return bot.inFlight == 2 }, 10*time.Second, 5*time.Millisecond)
	require.EqualValues(t, n, b.sim.Ledger().Engagement.Pending)
	close(hold)
	require.Eventually(t, func() bool { return b.sim.Ledger().Engagement.Receipts == int64(n) }, 10*time.Second, 5*time.Millisecond)
	bot.mu.Lock()
	require.Equal(t, 2, bot.maxIn)
	bot.mu.Unlock()
	require.Zero(t, b.sim.Ledger().Engagement.Pending)

	// Reads an hour away are dropped on Close.
	b2, _ := engageSetup(t, Engagement{Read: 1, ReceiptsOn: 1, ReadDelay: Delay{Min: time.Hour, Max: time.Hour}}, withRealClock())
	token = b2.connectorToken(t)
	user := b2.userWhere(t, deliverable)
	b2.sendTo(t, token, user.ID, hello)
	b2.sendTo(t, token, user.ID, `{"type":"message","text":"second"}`)
	require.EqualValues(t, 2, b2.sim.Ledger().Engagement.Pending)
	b2.sim.Close()
	l := b2.sim.Ledger().Engagement
	require.Zero(t, l.Pending)
	require.EqualValues(t, 2, l.Dropped)
	require.Zero(t, l.Reads)
}

func TestEngagementConfigIsValidated(t *testing.T) {
	t.Parallel()
	base := Config{BotAppID: testBotAppID, BotAppPassword: testBotSecret, TeamsAppID: testTeamsAppID}
	c := base
	c.Engagement = Engagement{Read: 0.5}
	_, err := New(c)
	require.ErrorContains(t, err, "Engagement: needs BotEndpoint")
	c.BotEndpoint = "http://127.0.0.1:1/api/messages"
	c.Engagement = Engagement{Read: 1.5, React: -1, ReadDelay: Delay{Min: 2, Max: 1}}
	_, err = New(c)
	require.ErrorContains(t, err, "Engagement.Read: must be between 0 and 1")
	require.ErrorContains(t, err, "Engagement.React")
	require.ErrorContains(t, err, "Engagement.ReadDelay")
}

func TestParseDelay(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Delay{
		"":         {},
		"30s":      {Min: 30 * time.Second, Max: 30 * time.Second},
		"250":      {Min: 250 * time.Millisecond, Max: 250 * time.Millisecond},
		"1s..30s":  {Min: time.Second, Max: 30 * time.Second},
		"exp:2m":   {Mean: 2 * time.Minute},
		" 0..5s  ": {Max: 5 * time.Second},
	} {
		got, err := ParseDelay(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := ParseDelay(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String round-trips %q", in)
	}
	for _, bad := range []string{"soon", "5s..1s", "exp:0", "exp:-1s", "-1s", "1s..x"} {
		_, err := ParseDelay(bad)
		require.Error(t, err, bad)
	}
}

func TestDelayDraws(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	uniform, exp, fixed := Delay{Min: time.Second, Max: 3 * time.Second}, Delay{Mean: time.Second}, Delay{Min: time.Second, Max: time.Second}
	var lo, hi bool
	var sum time.Duration
	const n = 20_000
	for range n {
		d := uniform.draw(rng)
		require.True(t, d >= time.Second && d <= 3*time.Second, "%s", d)
		lo, hi = lo || d < 1100*time.Millisecond, hi || d > 2900*time.Millisecond
		e := exp.draw(rng)
		require.True(t, e >= 0 && e <= 10*time.Second, "capped at ten times the mean: %s", e)
		sum += e
		require.Equal(t, time.Second, fixed.draw(rng))
	}
	require.True(t, lo && hi, "the whole range is drawn")
	require.InDelta(t, 1.0, (sum / n).Seconds(), 0.05, "the mean")
	require.Zero(t, Delay{}.draw(rng))
}
