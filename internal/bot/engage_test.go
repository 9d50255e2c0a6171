package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/bot"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// clock is a settable time for the handler.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixMilli())
	return c
}
func (c *clock) now() time.Time        { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) add(d time.Duration)   { c.ms.Add(d.Milliseconds()) }
func (c *clock) set(t time.Time)       { c.ms.Store(t.UnixMilli()) }
func engageOf(b *bundle) *engage.Store { return engage.New(b.store.Client(), b.store.Keyspace) }
func (b *bundle) counts(id string) engage.Counts {
	b.t.Helper()
	c, err := engageOf(b).Counts(context.Background(), id)
	require.NoError(b.t, err)
	return c
}

func (b *bundle) recipient(id, user string) engage.Engagement {
	b.t.Helper()
	m, err := engageOf(b).Recipients(context.Background(), id, []string{user})
	require.NoError(b.t, err)
	return m[user]
}

// broadcastTo records a broadcast of msg whose message reached each user
// with the activity id given, as the sender records a send (the store's
// transition, then the engagement index).
func (b *bundle) broadcastTo(msg broadcast.Message, sends map[string]string) string {
	b.t.Helper()
	ctx := context.Background()
	activity, err := message.Build(msg)
	require.NoError(b.t, err)
	bc := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: b.tenant, Message: msg, Audience: broadcast.Audience{AllUsers: true},
		Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(b.t, b.store.CreateBroadcast(ctx, bc, activity))
	var rs []store.NewRecipient
	for u := range sends {
		rs = append(rs, store.NewRecipient{UserID: u, State: broadcast.StatePending, ConversationID: "a:" + u})
	}
	_, err = b.store.AddRecipients(ctx, bc.ID, rs)
	require.NoError(b.t, err)
	for u, act := range sends {
		b.send(bc.ID, u, act)
	}
	return bc.ID
}

// send records the delivery of broadcast id to user with activity id act.
func (b *bundle) send(id, user, act string) {
	b.t.Helper()
	ctx := context.Background()
	_, err := b.store.Transition(ctx, id, user, store.Change{To: broadcast.StateSent, ActivityID: act, ConversationID: "a:" + user})
	require.NoError(b.t, err)
	require.NoError(b.t, engageOf(b).NoteSent(ctx, b.tenant, user, id, act, time.Now()))
}

func (b *bundle) receipt(user, lastRead string) int {
	b.t.Helper()
	a := b.activity("event", user, "a:"+user)
	a["name"] = "application/vnd.microsoft.readReceipt"
	a["value"] = map[string]any{"lastReadMessageId": lastRead}
	return b.post(a, "Bearer "+b.token(nil))
}

var text = broadcast.Message{Text: "hello"}

func readAt(t *testing.T, r engage.Engagement) time.Time {
	t.Helper()
	require.NotNil(t, r.ReadAt, "not read")
	return *r.ReadAt
}

func TestReadReceiptsMarkMessagesAtOrBelow(t *testing.T) {
	t.Parallel()
	c := newClock()
	b := setupWith(t, func(cfg *bot.Config) { cfg.Now = c.now })
	u := user(1)
	first := b.broadcastTo(text, map[string]string{u: "1000"})
	second := b.broadcastTo(text, map[string]string{u: "2000"})
	// "10000" is above "2500" as a number, below it as a string.
	later := b.broadcastTo(text, map[string]string{u: "10000"})
	t0 := c.now()

	require.Equal(t, http.StatusOK, b.receipt(u, "2500"))
	for _, id := range []string{first, second} {
		require.Equal(t, t0, readAt(t, b.recipient(id, u)))
		got := b.counts(id)
		require.EqualValues(t, 1, got.Read)
		require.EqualValues(t, 1, got.ReceiptsOn)
	}
	require.Nil(t, b.recipient(later, u).ReadAt)
	require.EqualValues(t, 0, b.counts(later).Read)
	require.EqualValues(t, 1, b.counts(later).ReceiptsOn, "the user has receipts on: unread is known")

	// The same receipt again, later: nothing changes.
	c.add(time.Minute)
	require.Equal(t, http.StatusOK, b.receipt(u, "2500"))
	require.Equal(t, t0, readAt(t, b.recipient(first, u)))
	require.EqualValues(t, 1, b.counts(first).Read)

	// An older receipt arriving after a newer one: the first time is kept.
	c.add(time.Minute)
	require.Equal(t, http.StatusOK, b.receipt(u, "1500"))
	require.Equal(t, t0, readAt(t, b.recipient(first, u)))
	require.EqualValues(t, 1, b.counts(first).Read)

	// A newer receipt reads the later message, at its own time.
	c.add(time.Minute)
	t3 := c.now()
	require.Equal(t, http.StatusOK, b.receipt(u, "10000"))
	require.Equal(t, t3, readAt(t, b.recipient(later, u)))
	require.Equal(t, t0, readAt(t, b.recipient(second, u)))
	require.EqualValues(t, 1, b.counts(later).Read)

	// A receipt with no usable id is refused.
	require.Equal(t, http.StatusBadRequest, b.receipt(u, " "))
}

func TestReceiptsOutOfOrderKeepTheEarliestTime(t *testing.T) {
	t.Parallel()
	c := newClock()
	b := setupWith(t, func(cfg *bot.Config) { cfg.Now = c.now })
	u := user(2)
	id := b.broadcastTo(text, map[string]string{u: "1692206589131"})
	t0 := c.now()
	// Teams posted two receipts; the later one (covering more) is handled
	// first, the earlier one a minute after, as a retry would be.
	require.Equal(t, http.StatusOK, b.receipt(u, "1692206589999"))
	c.add(time.Minute)
	require.Equal(t, http.StatusOK, b.receipt(u, "1692206589131"))
	require.Equal(t, t0, readAt(t, b.recipient(id, u)))
	require.EqualValues(t, 1, b.counts(id).Read)

	// Two receipts at once, many times over: counted once.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.receipt(u, "1692206589500")
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, b.counts(id).Read)
	require.EqualValues(t, 1, b.counts(id).ReceiptsOn)
}

func TestReceiptBeforeTheSendWasRecorded(t *testing.T) {
	t.Parallel()
	c := newClock()
	b := setupWith(t, func(cfg *bot.Config) { cfg.Now = c.now })
	u, v := user(3), user(4)
	// The send to u is posted and read before the sender records it.
	id := b.broadcastTo(text, map[string]string{})
	_, err := b.store.AddRecipients(context.Background(), id, []store.NewRecipient{
		{UserID: u, State: broadcast.StatePending, ConversationID: "a:" + u},
		{UserID: v, State: broadcast.StatePending, ConversationID: "a:" + v}})
	require.NoError(t, err)
	t0 := c.now()
	require.Equal(t, http.StatusOK, b.receipt(u, "5000"))
	require.EqualValues(t, 0, b.counts(id).Read)

	c.add(time.Minute)
	b.send(id, u, "4000")
	require.Equal(t, t0, readAt(t, b.recipient(id, u)), "read at the receipt's time")
	require.True(t, b.recipient(id, u).ReceiptsOn)
	// v's send is above nothing v sent: unknown, not read.
	b.send(id, v, "4000")
	require.Nil(t, b.recipient(id, v).ReadAt)
	got := b.counts(id)
	require.EqualValues(t, 1, got.Read)
	require.EqualValues(t, 1, got.ReceiptsOn, "v never sent a receipt")

	// A later send above the receipt is not read; the next receipt reads it.
	other := b.broadcastTo(text, map[string]string{u: "6000"})
	require.Nil(t, b.recipient(other, u).ReadAt)
	require.EqualValues(t, 1, b.counts(other).ReceiptsOn)
	// Recording the same send again changes nothing.
	b.send(id, u, "4000")
	require.EqualValues(t, 1, b.counts(id).Read)
	require.Equal(t, t0, readAt(t, b.recipient(id, u)))
}

func (b *bundle) reaction(user, replyTo string, added, removed []string) int {
	b.t.Helper()
	a := b.activity("messageReaction", user, "a:"+user)
	a["replyToId"] = replyTo
	list := func(ts []string) []map[string]any {
		out := []map[string]any{}
		for _, t := range ts {
			out = append(out, map[string]any{"type": t})
		}
		return out
	}
	if added != nil {
		a["reactionsAdded"] = list(added)
	}
	if removed != nil {
		a["reactionsRemoved"] = list(removed)
	}
	return b.post(a, "Bearer "+b.token(nil))
}

func TestReactionsAreCountedPerTypeAndRecipient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, v := user(1), user(2)
	id := b.broadcastTo(text, map[string]string{u: "100", v: "200"})

	require.Equal(t, http.StatusOK, b.reaction(u, "100", []string{"like"}, nil))
	require.Equal(t, http.StatusOK, b.reaction(u, "100", []string{"like"}, nil), "the same reaction again")
	require.Equal(t, http.StatusOK, b.reaction(u, "100", []string{"heart"}, nil))
	require.Equal(t, http.StatusOK, b.reaction(v, "200", []string{"like"}, nil))
	got := b.counts(id)
	require.EqualValues(t, 2, got.Reacted)
	require.Equal(t, map[string]int64{"like": 2, "heart": 1}, got.Reactions)
	require.Equal(t, []string{"heart", "like"}, b.recipient(id, u).Reactions)

	require.Equal(t, http.StatusOK, b.reaction(u, "100", nil, []string{"like"}))
	require.Equal(t, http.StatusOK, b.reaction(u, "100", nil, []string{"like"}), "removed twice")
	require.Equal(t, http.StatusOK, b.reaction(v, "200", nil, []string{"like"}))
	got = b.counts(id)
	require.EqualValues(t, 1, got.Reacted)
	require.Equal(t, map[string]int64{"heart": 1}, got.Reactions)
	require.Nil(t, b.recipient(id, v).Reactions)

	// On another message, or without one: nothing recorded.
	require.Equal(t, http.StatusOK, b.reaction(u, "999", []string{"sad"}, nil))
	require.Equal(t, http.StatusOK, b.reaction(u, "", []string{"sad"}, nil))
	require.Equal(t, map[string]int64{"heart": 1}, b.counts(id).Reactions)
}

// invoke posts an adaptiveCard/action invoke and returns the invoke
// response, checked for the shape Teams requires.
func (b *bundle) invoke(user, id, replyTo, verb string, data any) bot.InvokeResponse {
	b.t.Helper()
	a := b.activity("invoke", user, "a:"+user)
	a["id"] = id
	a["name"] = "adaptiveCard/action"
	if replyTo != "" {
		a["replyToId"] = replyTo
	}
	a["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
	return b.invokeRaw(a)
}

func (b *bundle) invokeRaw(a map[string]any) bot.InvokeResponse {
	b.t.Helper()
	status, body := b.postFor(a, "Bearer "+b.token(nil))
	require.Equal(b.t, http.StatusOK, status, "an invoke is answered 200: %s", body)
	var r map[string]json.RawMessage
	require.NoError(b.t, json.Unmarshal(body, &r), "the invoke response is JSON: %s", body)
	require.Len(b.t, r, 3, "statusCode, type and value: %s", body)
	var out bot.InvokeResponse
	require.NoError(b.t, json.Unmarshal(r["statusCode"], &out.StatusCode))
	require.NoError(b.t, json.Unmarshal(r["type"], &out.Type))
	switch out.Type {
	case bot.InvokeCard:
		var card map[string]any
		require.NoError(b.t, json.Unmarshal(r["value"], &card))
		require.Equal(b.t, "AdaptiveCard", card["type"], "the value is a card")
		out.Value = card
	case bot.InvokeMessage:
		var s string
		require.NoError(b.t, json.Unmarshal(r["value"], &s))
		require.NotEmpty(b.t, s)
		out.Value = s
	case bot.InvokeError:
		var f bot.InvokeFailure
		require.NoError(b.t, json.Unmarshal(r["value"], &f))
		require.NotEmpty(b.t, f.Code)
		require.NotEmpty(b.t, f.Message)
		out.Value = f
	default:
		b.t.Fatalf("invoke response of an unknown type: %s", body)
	}
	return out
}

func TestAcknowledgeButtonIsRecordedAndAnsweredWithTheCard(t *testing.T) {
	t.Parallel()
	c := newClock()
	b := setupWith(t, func(cfg *bot.Config) { cfg.Now = c.now })
	u, v := user(1), user(2)
	msg := broadcast.Message{Template: &broadcast.Template{Title: "Policy update", Summary: "Read it, **{{givenName}}**.",
		Buttons:     []broadcast.Button{{Title: "Open", URL: "https://example.com/policy"}},
		Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}}
	require.NoError(t, b.store.PutProfiles(context.Background(), b.tenant, []broadcast.Profile{{ID: u, GivenName: "Ada"}}))
	id := b.broadcastTo(msg, map[string]string{u: "100", v: "200"})

	// The card as sent carries the button, naming the broadcast.
	raw, _, err := b.store.ActivityVersion(context.Background(), id)
	require.NoError(t, err)
	sent := string(message.ForBroadcast(raw, id))
	require.Contains(t, sent, `"verb":"broadcast.ack","data":{"broadcastId":"`+id+`"}`)

	r := b.invoke(u, "inv-1", "100", message.AckVerb, map[string]any{"broadcastId": id})
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, bot.InvokeCard, r.Type)
	card, _ := json.Marshal(r.Value)
	require.Contains(t, string(card), "Acknowledged")
	require.Contains(t, string(card), "Read it, **Ada**.", "personalised as sent")
	require.Contains(t, string(card), "https://example.com/policy", "the other buttons stay")
	require.NotContains(t, string(card), "broadcast.ack", "no acknowledge button left")
	t0 := c.now()

	// Again (a second press, Teams' retry): recorded once, answered alike.
	c.add(time.Minute)
	r = b.invoke(u, "inv-1", "100", message.AckVerb, map[string]any{"broadcastId": id})
	require.Equal(t, bot.InvokeCard, r.Type)
	r = b.invoke(u, "inv-2", "100", message.AckVerb, map[string]any{"broadcastId": id})
	require.Equal(t, bot.InvokeCard, r.Type)
	// v's invoke names the broadcast in its data only.
	r = b.invoke(v, "inv-3", "", message.AckVerb, map[string]any{"broadcastId": strings.ToUpper(id)})
	require.Equal(t, bot.InvokeCard, r.Type)

	got := b.counts(id)
	require.EqualValues(t, 2, got.Acknowledged)
	require.EqualValues(t, 2, got.Acted)
	require.EqualValues(t, 3, got.Actions, "inv-1 once, inv-2, inv-3")
	rec := b.recipient(id, u)
	require.NotNil(t, rec.AcknowledgedAt)
	require.Equal(t, t0, *rec.AcknowledgedAt, "the first acknowledgement's time")
	require.Len(t, rec.Actions, 2)
	require.Equal(t, message.AckVerb, rec.Actions[0].Verb)
	require.JSONEq(t, `{"broadcastId":"`+id+`"}`, string(rec.Actions[0].Data))

	// A user the broadcast did not reach is told nothing was recorded.
	r = b.invoke(user(3), "inv-4", "", message.AckVerb, map[string]any{"broadcastId": id})
	require.Equal(t, bot.InvokeMessage, r.Type)
	require.EqualValues(t, 2, b.counts(id).Acknowledged)
}

func TestEveryCardActionGetsAValidInvokeResponse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := user(1)
	card := json.RawMessage(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Lunch?"}],` +
		`"actions":[{"type":"Action.Execute","title":"Yes","verb":"lunch.yes","data":{"choice":"yes"}}]}`)
	id := b.broadcastTo(broadcast.Message{Card: card}, map[string]string{u: "100"})

	// An author's own Action.Execute: recorded with its verb and data.
	r := b.invoke(u, "i1", "100", "lunch.yes", map[string]any{"choice": "yes"})
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, bot.InvokeMessage, r.Type)
	rec := b.recipient(id, u)
	require.Len(t, rec.Actions, 1)
	require.Equal(t, "lunch.yes", rec.Actions[0].Verb)
	require.JSONEq(t, `{"choice":"yes"}`, string(rec.Actions[0].Data))
	require.EqualValues(t, 0, b.counts(id).Acknowledged)

	// The acknowledge verb on an author's card: recorded, and the card
	// comes back saying so.
	r = b.invoke(u, "i2", "100", message.AckVerb, nil)
	require.Equal(t, bot.InvokeCard, r.Type)
	require.EqualValues(t, 1, b.counts(id).Acknowledged)

	// On a message that is no broadcast's, with no data.
	r = b.invoke(u, "i3", "999", "whatever", nil)
	require.Equal(t, bot.InvokeMessage, r.Type)

	// Malformed: no verb, a value that is no action, an unknown user.
	r = b.invoke(u, "i4", "100", "", nil)
	require.Equal(t, bot.InvokeError, r.Type)
	require.Equal(t, 400, r.StatusCode)
	bad := b.activity("invoke", u, "a:"+u)
	bad["name"] = "adaptiveCard/action"
	bad["value"] = "not an object"
	require.Equal(t, bot.InvokeError, b.invokeRaw(bad).Type)
	r = b.invoke("not-a-guid", "i5", "100", "lunch.yes", nil)
	require.Equal(t, bot.InvokeError, r.Type)
	// In a team, or another tenant: answered, not recorded.
	team := b.activity("invoke", u, "19:team@thread.tacv2")
	team["name"] = "adaptiveCard/action"
	team["conversation"].(map[string]any)["conversationType"] = "channel"
	team["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "lunch.yes"}}
	require.Equal(t, bot.InvokeMessage, b.invokeRaw(team).Type)
	require.EqualValues(t, 2, b.counts(id).Actions, "i1 and i2 only")
}

// replies records what the auto-reply sends.
type replies struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (r *replies) Send(_ context.Context, conv string, activity []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[conv] = append(r.sent[conv], string(activity))
	return "r1", nil
}

func TestRepliesGoToTheLatestBroadcast(t *testing.T) {
	t.Parallel()
	c := newClock()
	out := &replies{sent: map[string][]string{}}
	b := setupWith(t, func(cfg *bot.Config) {
		cfg.Now, cfg.AutoReply, cfg.Replier = c.now, "Thanks, the comms team reads every reply.", out
	})
	u := user(1)
	older := b.broadcastTo(text, map[string]string{u: "100"})
	latest := b.broadcastTo(text, map[string]string{u: "200"})

	msg := b.activity("message", u, "a:"+u)
	msg["id"] = "m1"
	msg["text"] = "Does this apply to contractors?"
	require.Equal(t, http.StatusOK, b.post(msg, "Bearer "+b.token(nil)))
	require.Equal(t, http.StatusOK, b.post(msg, "Bearer "+b.token(nil)), "the same message again")

	list, next, err := engageOf(b).Replies(context.Background(), latest, "", 10)
	require.NoError(t, err)
	require.Empty(t, next)
	require.Equal(t, []engage.Reply{{UserID: u, Text: "Does this apply to contractors?", At: c.now()}}, list)
	require.EqualValues(t, 1, b.counts(latest).Replied)
	require.EqualValues(t, 0, b.counts(older).Replied)
	require.NotNil(t, b.recipient(latest, u).RepliedAt)

	out.mu.Lock()
	require.Len(t, out.sent["a:"+u], 1, "one auto-reply for one message")
	require.Contains(t, out.sent["a:"+u][0], "the comms team reads every reply")
	out.mu.Unlock()

	// A user no broadcast reached: ignored.
	stranger := b.activity("message", user(2), "a:"+user(2))
	stranger["text"] = "hi"
	require.Equal(t, http.StatusOK, b.post(stranger, "Bearer "+b.token(nil)))
	out.mu.Lock()
	require.Empty(t, out.sent["a:"+user(2)])
	out.mu.Unlock()
}

// BenchmarkEngagement posts signed activities through the endpoint, as
// Teams does, with real Redis: a read receipt, a reaction and an
// acknowledge invoke per iteration, each of another user, on a broadcast
// each user got.
func BenchmarkEngagement(b *testing.B) {
	bb := setupWith(b, nil)
	const users = 64
	sends := map[string]string{}
	for i := range users {
		sends[benchUser(i)] = fmt.Sprint(1000 + i)
	}
	msg := broadcast.Message{Template: &broadcast.Template{Title: "Bench", Acknowledge: &broadcast.Acknowledge{Title: "Got it"}}}
	id := bb.broadcastTo(msg, sends)
	auth := "Bearer " + bb.token(nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := benchUser(i % users)
		r := bb.activity("event", u, "a:"+u)
		r["name"], r["value"] = "application/vnd.microsoft.readReceipt", map[string]any{"lastReadMessageId": sends[u]}
		x := bb.activity("messageReaction", u, "a:"+u)
		x["replyToId"], x["reactionsAdded"] = sends[u], []map[string]any{{"type": "like"}}
		v := bb.activity("invoke", u, "a:"+u)
		v["id"], v["name"], v["replyToId"] = fmt.Sprint("i", i), "adaptiveCard/action", sends[u]
		v["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": message.AckVerb, "data": map[string]any{"broadcastId": id}}}
		for _, a := range []map[string]any{r, x, v} {
			if status := bb.post(a, auth); status != http.StatusOK {
				b.Fatalf("status %d", status)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(3*b.N), "µs/activity")
}

func benchUser(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i+100) }
