package pipelinetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func replay(t *testing.T, e *pipelinetest.Env, id, body string) (int, broadcast.ReplayResult, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts/"+id+"/replay", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	e.API.ServeHTTP(rec, req)
	var res broadcast.ReplayResult
	if rec.Code == http.StatusAccepted {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	}
	return rec.Code, res, rec.Body.String()
}

// Recipients that failed for reasons that may pass are kept and replayed:
// a replay by user, then one of the rest, then one that finds nothing, then
// one that asks for the blocked users too. Every deliverable user gets the
// message exactly once, the counters say what the replays did, and each
// recipient's record carries its round.
func TestReplayDeliversTheFailedOnce(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 200, InstalledFraction: 1, BlockedFraction: 0.05, ConnectorRPS: 400, Seed: 3,
	}, MaxRetries: 2})
	var exhausted, broken, blocked []string
	for _, u := range e.Users() {
		switch {
		case u.UserType == "Guest":
		case u.Blocked || u.Disabled:
			blocked = append(blocked, u.ID)
		case len(exhausted) < 20:
			exhausted = append(exhausted, u.ID)
			e.Sim.Inject(e.Tenant, u.ID, teamsim.Fault{Status: http.StatusServiceUnavailable, Times: 3}) // beyond 2 retries
		case len(broken) < 10:
			broken = append(broken, u.ID)
			e.Sim.Inject(e.Tenant, u.ID, teamsim.Fault{Status: http.StatusInternalServerError})
		}
	}
	require.NotEmpty(t, blocked)
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Try again"}, Audience: broadcast.Audience{AllUsers: true}})
	first := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(30), first.Counts.Failed)
	require.Equal(t, int64(len(blocked)), first.Counts.Blocked)

	// Bad requests are refused with the field named, and start no round.
	for _, body := range []string{`{"reasons":["bad_message"]}`, `{"reasons":["nope"]}`, `{"userIds":["x"]}`, `{"extra":1}`, `[`} {
		code, _, text := replay(t, e, b.ID, body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, text, "invalid_request", body)
	}

	// A replay of five named users queues those five only.
	named, _ := json.Marshal(map[string]any{"userIds": exhausted[:5]})
	code, res, text := replay(t, e, b.ID, string(named))
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, 1, res.Round)
	require.Equal(t, 5, res.Queued)
	// Waits are beyond AckWait: under heavy load a fetch's answer may come
	// after the client gave up on it, and its jobs come back after AckWait.
	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(25), got.Counts.Failed)

	// A replay with no filter takes the rest, but not the blocked users.
	code, res, text = replay(t, e, b.ID, "")
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, 2, res.Round)
	require.Equal(t, 25, res.Queued)
	got = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Zero(t, got.Counts.Failed)
	require.Equal(t, int64(len(blocked)), got.Counts.Blocked)

	// Replaying again finds nothing to do and leaves the broadcast completed.
	code, res, text = replay(t, e, b.ID, "{}")
	require.Equal(t, http.StatusAccepted, code, text)
	require.Zero(t, res.Queued)
	got = e.WaitCompleted(b.ID, 10*time.Second)

	// Asked for, the blocked users are tried again, and stay blocked.
	code, res, text = replay(t, e, b.ID, `{"includeBlocked":true}`)
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, len(blocked), res.Queued)
	got = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(len(blocked)), got.Counts.Blocked)
	require.Equal(t, 4, got.Replays)
	require.Equal(t, int64(30+len(blocked)), got.Counts.Replayed)
	require.Equal(t, got.Counts.Total, got.Counts.Sent+got.Counts.Blocked)

	l := e.Sim.Ledger()
	require.Zero(t, l.Duplicates)
	require.Equal(t, got.Counts.Sent, l.DeliveredUsers)
	require.Equal(t, got.Counts.Sent, l.Deliveries)
	ctx := context.Background()
	for i, u := range append(append([]string{}, exhausted...), broken...) {
		r, err := e.Store.Recipient(ctx, b.ID, u)
		require.NoError(t, err)
		require.Equal(t, broadcast.StateSent, r.State)
		want := 2
		if i < 5 {
			want = 1
		}
		require.Equal(t, want, r.ReplayRound, "user %s", u)
		require.Greater(t, r.Attempts, 1, "the history keeps the first round's attempts")
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u), 1)
	}
	r, err := e.Store.Recipient(ctx, b.ID, blocked[0])
	require.NoError(t, err)
	require.Equal(t, 4, r.ReplayRound)
	require.Equal(t, broadcast.StateBlocked, r.State)
}

// A replay's job reopens its recipient by itself: the dispatcher may die
// between publishing the job and reopening the recipient.
func TestReplayJobReopensItsRecipient(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 20, InstalledFraction: 1, Seed: 4}})
	user := e.Users()[0].ID
	e.Sim.Inject(e.Tenant, user, teamsim.Fault{Status: http.StatusInternalServerError})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Once"}, Audience: broadcast.Audience{UserIDs: []string{user}}})
	// Beyond AckWait: under heavy load a fetch's answer may come after the
	// client gave up on it, and the job is redelivered after AckWait.
	e.WaitCompleted(b.ID, 2*time.Minute)
	ctx := context.Background()
	rec, err := e.Store.Recipient(ctx, b.ID, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.ReasonServiceError, rec.Reason)

	round, err := e.Store.StartReplay(ctx, b.ID)
	require.NoError(t, err)
	require.NoError(t, e.Queue.EnsureConsumers(ctx, e.Tenant, b.ID, broadcast.PriorityNormal))
	job := broadcast.Job{BroadcastID: b.ID, TenantID: e.Tenant, UserID: user, ConversationID: rec.ConversationID, Round: round}
	// ...and no reopen: the dispatcher died here. The same job comes
	// twice (a redelivery, a second publish: another message id, so the
	// stream keeps both); the second must change nothing.
	require.NoError(t, e.Queue.PublishBatch(ctx, []queue.Item{{Stage: broadcast.StageSend, Job: job},
		{Stage: broadcast.StageSend, Job: job, MsgID: job.MsgID(broadcast.StageSend) + ":again"}}))
	e.WaitCompleted(b.ID, 2*time.Minute)
	// Both jobs acked: a work queue drops a job at its ack, and the
	// consumers of a finished broadcast go only once they are idle.
	testenv.Eventually(t, time.Minute, func() bool {
		n, err := e.Queue.Jobs(ctx, e.Tenant, b.ID)
		return err == nil && n == 0
	}, "both jobs acked")
	got, err := e.Store.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Counts.Sent)
	require.Equal(t, int64(1), got.Counts.Replayed)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, user), 1)
	require.Zero(t, e.Sim.Ledger().Duplicates)
}

func TestReplayOfACanceledBroadcastIsAConflict(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{NoWorkers: true, Sim: teamsim.Config{UsersPerTenant: 5}})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Never"}, Audience: broadcast.Audience{AllUsers: true}})
	code, _ := post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusAccepted, code)
	code, _, text := replay(t, e, b.ID, "")
	require.Equal(t, http.StatusConflict, code, text)
	require.Contains(t, text, `"canceled"`)
}

// A recipient throttled again and again is failed (throttled) once it has
// used its throttle budget, rather than retried forever, and a replay
// delivers it. Retry-After is honoured throughout.
func TestThrottledBeyondTheBudgetIsReplayable(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 6}, MaxThrottles: 3})
	user := e.Users()[0].ID
	e.Sim.Inject(e.Tenant, user, teamsim.Fault{Status: http.StatusTooManyRequests, Times: 3, RetryAfter: time.Second})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Busy"}, Audience: broadcast.Audience{UserIDs: []string{user}}})
	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(1), got.Counts.Failed)
	rec, err := e.Store.Recipient(context.Background(), b.ID, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.ReasonThrottled, rec.Reason)
	require.Equal(t, 2, rec.Throttles, "two 429s released it; the third failed it")

	code, res, text := replay(t, e, b.ID, `{"reasons":["throttled"]}`)
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, 1, res.Queued)
	got = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(1), got.Counts.Sent)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, user), 1)
	require.Zero(t, e.Sim.Ledger().RetryAfterViolations)
}

// A failure at the install stage is kept and replayed through the
// installer: a user Graph does not know fails user_not_found, and a replay
// tries the install again (and fails again, in round 1), while the user
// who got the message is not sent it twice.
func TestReplayOfAnInstallFailure(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1, Seed: 8}})
	known, unknown := e.Users()[0].ID, "0190c6d2-0000-7000-8000-00000000abcd"
	// A user Graph no longer knows whose profile is still cached (deleted
	// since the last directory sync) passes resolution and fails install.
	require.NoError(t, e.Store.PutProfiles(context.Background(), e.Tenant, []broadcast.Profile{{ID: unknown, DisplayName: "Gone"}}))
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Who?"}, Audience: broadcast.Audience{UserIDs: []string{known, unknown}}})
	got := e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, broadcast.Counts{Total: 2, Sent: 1, Failed: 1}, got.Counts)
	ctx := context.Background()
	rec, err := e.Store.Recipient(ctx, b.ID, unknown)
	require.NoError(t, err)
	require.Equal(t, broadcast.ReasonUserNotFound, rec.Reason)

	code, res, text := replay(t, e, b.ID, "")
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, 1, res.Queued)
	got = e.WaitFor(b.ID, 2*time.Minute, "failed again in round 1", func(b *broadcast.Broadcast) bool {
		r, err := e.Store.Recipient(ctx, b.ID, unknown)
		return err == nil && b.Status == broadcast.StatusCompleted && r.ReplayRound == 1 && r.State == broadcast.StateFailed
	})
	require.Equal(t, broadcast.Counts{Total: 2, Sent: 1, Failed: 1, Replayed: 1}, got.Counts)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, known), 1)
}
