package pipelinetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teams"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// hashOf is the simulator's content hash of the activity a text message becomes.
func hashOf(t *testing.T, text string) string {
	t.Helper()
	a, err := teams.Activity(text, nil, true)
	require.NoError(t, err)
	return teamsim.ContentHash(a)
}

func edit(t *testing.T, e *pipelinetest.Env, id, text string) broadcast.ChangeResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"message": map[string]string{"text": text}})
	code, out := postJSON(t, e.API, "/v1/broadcasts/"+id+"/edit", string(body))
	require.Equal(t, http.StatusAccepted, code, string(out))
	var res broadcast.ChangeResult
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, id, res.BroadcastID)
	return res
}

// waitChange waits for the broadcast's edit (or recall) of round to complete.
func waitChange(e *pipelinetest.Env, id string, op broadcast.Stage, round int) *broadcast.Broadcast {
	e.T.Helper()
	return e.WaitFor(id, 3*time.Minute, string(op)+" completed", func(b *broadcast.Broadcast) bool {
		p := b.Edit
		if op == broadcast.StageRecall {
			p = b.Recall
		}
		return p != nil && p.Round == round && p.Status == broadcast.ChangeCompleted
	})
}

// requireConsumersGone waits for every consumer of a finished broadcast to go.
func requireConsumersGone(t *testing.T, e *pipelinetest.Env, id string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, stage := range queue.AllStages {
			if _, err := e.Queue.Consumer(context.Background(), queue.ConsumerName(stage, id)); err == nil {
				return false
			}
		}
		return true
	}, "the consumers of broadcast %s are removed", id)
}

func requireExact(t *testing.T, p *broadcast.ChangeProgress) {
	t.Helper()
	require.Zero(t, p.Pending, "%+v", p)
	require.Equal(t, p.Total, p.Done+p.Failed+p.Skipped, "%+v", p)
}

// An edit reaches every recipient who got the message and nobody else:
// those blocked or failed at the send get no update; Teams' 404 and 403
// answers to an update end skipped and failed; the counters are exact and
// equal the simulator's ledger, where every delivered message now holds
// the new text. Then a recall deletes every delivered message, a second
// recall is the same recall, and an edit after it is refused.
func TestEditAndRecallReachEveryRecipientWhoGotTheMessage(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 200, InstalledFraction: 0.9, BlockedFraction: 0.05, Seed: 11,
	}})
	users := e.Users()
	failedAtSend := map[string]bool{}
	for _, u := range users[:3] {
		e.Sim.Inject(e.Tenant, u.ID, teamsim.Fault{Status: 500, Code: "ServiceError"})
		failedAtSend[u.ID] = true
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Positive(t, b.Counts.Blocked)
	require.GreaterOrEqual(t, b.Counts.Failed, int64(3))

	// Bad edits are refused, naming the field.
	code, out := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{}}`)
	require.Equal(t, http.StatusBadRequest, code, string(out))
	require.Contains(t, string(out), `"field": "message"`)
	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{"text":"x"},"audience":{}}`)
	require.Equal(t, http.StatusBadRequest, code, string(out))
	require.Contains(t, string(out), `"field": "audience"`)
	code, _ = postJSON(t, e.API, "/v1/broadcasts/0190c6d2-0000-7000-8000-000000000000/edit", `{"message":{"text":"x"}}`)
	require.Equal(t, http.StatusNotFound, code)

	// Teams' answers to some updates: the message is gone (404), the user
	// blocked the bot since (403), a 503 then a 412 (retried).
	var sent []string
	for _, u := range users {
		if r, err := e.Store.Recipient(context.Background(), b.ID, u.ID); err == nil && r.State == broadcast.StateSent {
			sent = append(sent, u.ID)
		}
	}
	require.EqualValues(t, b.Counts.Sent, len(sent))
	gone, blocked := sent[:2], sent[2]
	for _, u := range gone {
		e.Sim.Inject(e.Tenant, u, teamsim.Fault{Status: 404, Code: "NotFound"})
	}
	e.Sim.Inject(e.Tenant, blocked, teamsim.Fault{Status: 403, Code: "ConversationBlockedByUser"})
	retried := sent[3]
	e.Sim.Inject(e.Tenant, retried, teamsim.Fault{Status: 503, Code: "ServiceUnavailable"})
	e.Sim.Inject(e.Tenant, retried, teamsim.Fault{Status: 412, Code: "PreconditionFailed"})
	e.Sim.Reset()

	res := edit(t, e, b.ID, "Edited: the office is open")
	require.Equal(t, 1, res.Round)
	require.Equal(t, b.Counts.Sent, res.Queued)
	b = waitChange(e, b.ID, broadcast.StageEdit, 1)
	p := b.Edit
	requireExact(t, p)
	require.Equal(t, b.Counts.Sent, p.Total, "%+v", p)
	require.EqualValues(t, 2, p.Skipped, "%+v", p)
	require.EqualValues(t, 1, p.Failed, "%+v", p)
	require.Equal(t, b.Counts.Sent-3, p.Done, "%+v", p)
	require.Equal(t, "Edited: the office is open", b.Message.Text, "the broadcast's message is the new one")

	l := e.Sim.Ledger()
	require.Equal(t, b.Counts.Sent+2, l.Requests[teamsim.KindConnectorUpdate], "one update per recipient who got the message, and two retries")
	require.Equal(t, p.Done, l.Updates)
	require.Zero(t, l.Deliveries, "an edit sends nothing new")
	original, edited := hashOf(t, "Original"), hashOf(t, "Edited: the office is open")
	for _, u := range users {
		r, err := e.Store.Recipient(context.Background(), b.ID, u.ID)
		if err != nil {
			continue // a guest: not a recipient
		}
		acts := e.Sim.UserActivities(e.Tenant, u.ID)
		if r.State != broadcast.StateSent {
			require.Empty(t, acts, "user %s in state %s has no message", u.ID, r.State)
			continue
		}
		require.Len(t, acts, 1, "user %s", u.ID)
		require.Equal(t, r.ActivityID, acts[0].ID)
		want := edited
		if slices.Contains(gone, u.ID) || u.ID == blocked {
			want = original
		}
		require.Equal(t, want, acts[0].ContentHash, "user %s", u.ID)
	}

	// Once the edit is over (and the broadcast completed), its consumer goes.
	requireConsumersGone(t, e, b.ID)

	// The recall deletes every delivered message, once.
	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recall", `{}`)
	require.Equal(t, http.StatusAccepted, code, string(out))
	var rres broadcast.ChangeResult
	require.NoError(t, json.Unmarshal(out, &rres))
	require.Equal(t, b.Counts.Sent, rres.Queued)
	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recall", ``)
	require.Equal(t, http.StatusOK, code, "a second recall is the same recall: %s", out)
	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recall", `{"force":true}`)
	require.Equal(t, http.StatusBadRequest, code, string(out))

	b = waitChange(e, b.ID, broadcast.StageRecall, 1)
	requireExact(t, b.Recall)
	require.Equal(t, b.Counts.Sent, b.Recall.Total)
	require.Equal(t, b.Counts.Sent, b.Recall.Done, "%+v", b.Recall)
	require.Equal(t, broadcast.StatusCompleted, b.Status, "a completed broadcast stays completed")
	l = e.Sim.Ledger()
	require.Equal(t, b.Counts.Sent, l.Deletes)
	require.Equal(t, b.Counts.Sent, l.Requests[teamsim.KindConnectorDelete])
	for _, u := range sent {
		acts := e.Sim.UserActivities(e.Tenant, u)
		require.Len(t, acts, 1)
		require.True(t, acts[0].Deleted, "user %s", u)
	}

	requireConsumersGone(t, e, b.ID)

	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/edit", `{"message":{"text":"too late"}}`)
	require.Equal(t, http.StatusConflict, code, string(out))
	require.Contains(t, string(out), "recalled")
	code, out = postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/replay", `{}`)
	require.Equal(t, http.StatusConflict, code, string(out))
}

// An edit whose updates Teams throttles waits out every Retry-After: the
// simulator sees no request inside a Retry-After it gave, and every
// recipient ends updated, each counted once.
//
// Not parallel: a request that passed its gate just before a 429 and then
// waited for a CPU busy with the package's other pipelines arrives late,
// and the simulator counts it (TestThrottledRunHonoursRetryAfter of the
// sends sees the same under load); the package's parallel tests wait for
// this one.
func TestEditHonoursRetryAfter(t *testing.T) {
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 80, InstalledFraction: 1, Seed: 12}, TenantRPS: 30})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	e.Sim.Reset()
	for range 3 {
		e.Sim.InjectTenant(e.Tenant, teamsim.Fault{Status: 429, Code: "Throttled", RetryAfter: time.Second})
	}

	edit(t, e, b.ID, "Edited under throttling")
	b = waitChange(e, b.ID, broadcast.StageEdit, 1)
	requireExact(t, b.Edit)
	require.Equal(t, b.Counts.Sent, b.Edit.Done, "%+v", b.Edit)
	l := e.Sim.Ledger()
	require.Positive(t, l.Throttled, "the updates were throttled")
	require.Zero(t, l.RetryAfterViolations)
	require.Equal(t, b.Counts.Sent, l.Updates)
	want := hashOf(t, "Edited under throttling")
	for _, u := range e.Users() {
		if acts := e.Sim.UserActivities(e.Tenant, u.ID); len(acts) > 0 {
			require.Equal(t, want, acts[0].ContentHash, "user %s", u.ID)
		}
	}
}

// A second edit supersedes the first while it runs: every recipient ends
// with the second text, none is updated with the first after the second,
// and the counters are the second round's.
func TestEditSupersedesEdit(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 150, InstalledFraction: 1, Seed: 13}, TenantRPS: 60})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	e.Sim.Reset()

	require.Equal(t, 1, edit(t, e, b.ID, "First edit").Round)
	e.WaitFor(b.ID, time.Minute, "some of the first edit done", func(b *broadcast.Broadcast) bool { return b.Edit != nil && b.Edit.Done >= 10 })
	require.Equal(t, 2, edit(t, e, b.ID, "Second edit").Round)
	b = waitChange(e, b.ID, broadcast.StageEdit, 2)
	requireExact(t, b.Edit)
	require.Equal(t, b.Counts.Sent, b.Edit.Total, "%+v", b.Edit)
	require.Equal(t, b.Counts.Sent, b.Edit.Done, "%+v", b.Edit)

	first, second := hashOf(t, "First edit"), hashOf(t, "Second edit")
	firsts := 0
	for _, u := range e.Users() {
		if u.UserType == "Guest" {
			continue // not a recipient
		}
		acts := e.Sim.UserActivities(e.Tenant, u.ID)
		require.Len(t, acts, 1, "user %s", u.ID)
		a := acts[0]
		require.Equal(t, second, a.ContentHash, "user %s", u.ID)
		at := slices.Index(a.History, second)
		require.NotContains(t, a.History[at:], first, "user %s updated with the first edit after the second: %v", u.ID, a.History)
		if slices.Contains(a.History, first) {
			firsts++
		}
	}
	require.Positive(t, firsts, "the first edit had reached some before the second")
	l := e.Sim.Ledger()
	require.Zero(t, l.RetryAfterViolations)
	require.LessOrEqual(t, l.Updates, 2*b.Counts.Sent)
}

// An edit while the broadcast is still sending: the recipients not sent
// yet get the new message, those sent before get an update, and the sends
// on their way when the edit started are updated too.
func TestEditWhileSending(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 300, InstalledFraction: 1, Seed: 14}, TenantRPS: 50})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitFor(b.ID, time.Minute, "40 sent", func(b *broadcast.Broadcast) bool { return b.Counts.Sent >= 40 })
	res := edit(t, e, b.ID, "Edited while sending")
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Less(t, res.Queued, b.Counts.Sent, "the edit came before the end")
	b = waitChange(e, b.ID, broadcast.StageEdit, 1)
	requireExact(t, b.Edit)
	require.Equal(t, b.Edit.Total, b.Edit.Done, "%+v", b.Edit)

	want := hashOf(t, "Edited while sending")
	newer := 0
	for _, u := range e.Users() {
		if u.UserType == "Guest" {
			continue // not a recipient
		}
		acts := e.Sim.UserActivities(e.Tenant, u.ID)
		require.Len(t, acts, 1, "user %s", u.ID)
		require.Equal(t, want, acts[0].ContentHash, "user %s: %v", u.ID, acts[0].History)
		if acts[0].History[0] == want {
			newer++
		}
	}
	require.Positive(t, newer, "recipients sent after the edit got the new message")
	require.Zero(t, e.Sim.Ledger().Duplicates)
}

// A recall while the broadcast is still sending cancels the rest and
// deletes every message delivered, those on their way at the recall too.
func TestRecallWhileSendingCancelsTheRest(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 1000, InstalledFraction: 0.9, BlockedFraction: 0.02, ConnectorRPS: 200, GraphRPS: 200, Seed: 15,
	}, TenantRPS: 40})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Oops"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitFor(b.ID, time.Minute, "50 sent", func(b *broadcast.Broadcast) bool { return b.Counts.Sent >= 50 })

	code, out := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recall", ``)
	require.Equal(t, http.StatusAccepted, code, string(out))
	b = e.WaitStatus(b.ID, broadcast.StatusCanceled, 2*time.Minute)
	require.Positive(t, b.Counts.Canceled)
	b = waitChange(e, b.ID, broadcast.StageRecall, 1)
	requireExact(t, b.Recall)
	require.Equal(t, b.Counts.Sent, b.Recall.Total, "%+v", b.Recall)
	require.Equal(t, b.Counts.Sent, b.Recall.Done, "%+v", b.Recall)

	requireConsumersGone(t, e, b.ID)
	time.Sleep(time.Second) // nothing more reaches Teams
	l := e.Sim.Ledger()
	require.Equal(t, b.Counts.Sent, l.Deliveries)
	require.Equal(t, b.Counts.Sent, l.Deletes)
	for _, u := range e.Users() {
		for _, a := range e.Sim.UserActivities(e.Tenant, u.ID) {
			require.True(t, a.Deleted, "user %s", u.ID)
		}
	}
}

// Edit jobs lost from the stream (NATS's last unsynced second) are
// rebuilt: every recipient is still updated, once.
func TestLostEditJobsAreRebuilt(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 200, InstalledFraction: 1, Seed: 16}})
	ctx := context.Background()
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	e.Sim.Reset()
	// A 429 pauses the tenant, so the edit's jobs wait in the stream.
	e.Sim.InjectTenant(e.Tenant, teamsim.Fault{Status: 429, Code: "Throttled", RetryAfter: 3 * time.Second})
	edit(t, e, b.ID, "Edited, jobs lost")
	e.WaitFor(b.ID, time.Minute, "every recipient queued and the tenant paused", func(b *broadcast.Broadcast) bool {
		return b.Edit != nil && b.Edit.Total == b.Counts.Sent && e.Sim.Ledger().Throttled > 0
	})
	s, err := e.JS.Stream(ctx, e.Queue.Stream())
	require.NoError(t, err)
	subject := e.Queue.Subject(broadcast.StageEdit, broadcast.Job{TenantID: e.Tenant, BroadcastID: b.ID})
	require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject(subject)))

	b = waitChange(e, b.ID, broadcast.StageEdit, 1)
	requireExact(t, b.Edit)
	require.Equal(t, b.Counts.Sent, b.Edit.Done, "%+v", b.Edit)
	require.Equal(t, b.Counts.Sent, e.Sim.Ledger().Updates, "each updated once")
}

// An edit is personalised per recipient from the directory cache, as a
// send is: each message holds the recipient's own name.
func TestEditIsPersonalised(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 20, InstalledFraction: 1, Seed: 17}})
	ctx := context.Background()
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Original"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	var profiles []broadcast.Profile
	for _, u := range e.Users() {
		profiles = append(profiles, broadcast.Profile{ID: u.ID, DisplayName: u.DisplayName + ` "the great"`})
	}
	require.NoError(t, e.Store.PutProfiles(ctx, e.Tenant, profiles))

	edit(t, e, b.ID, "Hello {{displayName}}, the office is open")
	b = waitChange(e, b.ID, broadcast.StageEdit, 1)
	require.Equal(t, b.Counts.Sent, b.Edit.Done, "%+v", b.Edit)
	checked := 0
	for _, p := range profiles {
		acts := e.Sim.UserActivities(e.Tenant, p.ID)
		if len(acts) == 0 {
			continue // a guest
		}
		require.Equal(t, hashOf(t, "Hello "+p.DisplayName+", the office is open"), acts[0].ContentHash, "user %s", p.ID)
		checked++
	}
	require.EqualValues(t, b.Counts.Sent, checked)
}

// A delete carried out but answered after the sender's timeout is retried;
// Teams then answers 404, and the message counts deleted, not skipped.
func TestRecallAnsweredLateCountsDeleted(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 8, InstalledFraction: 1, Seed: 18}})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Oops"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	e.Sim.Reset()
	e.Sim.SetSlow(1, 6*time.Second) // beyond the senders' 5 s timeout

	code, out := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/recall", `{}`)
	require.Equal(t, http.StatusAccepted, code, string(out))
	b = waitChange(e, b.ID, broadcast.StageRecall, 1)
	requireExact(t, b.Recall)
	require.Equal(t, b.Counts.Sent, b.Recall.Done, "%+v", b.Recall)
	l := e.Sim.Ledger()
	require.Equal(t, b.Counts.Sent, l.Deletes)
	require.Equal(t, 2*b.Counts.Sent, l.Requests[teamsim.KindConnectorDelete], "each delete answered late, then retried")
}
