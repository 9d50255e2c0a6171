package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// approvals is a pipeline held to an approval policy, with a key per role.
type approvals struct {
	e                                   *pipelinetest.Env
	viewer, author, approver, approver2 string // tokens
	notified                            []string
	others                              []teamsim.User // the members who are not told
}

const consoleURL = "https://broadcast.contoso.test/console"

func startApprovals(t *testing.T, policy string, users int) *approvals {
	t.Helper()
	p, err := broadcast.ParseApprovalPolicy(policy)
	require.NoError(t, err)
	a := &approvals{}
	var keys []auth.Key
	for _, k := range []struct {
		name  string
		role  auth.Role
		token *string
	}{{"viewer", auth.Viewer, &a.viewer}, {"author", auth.Author, &a.author}, {"approver", auth.Approver, &a.approver},
		{"approver2", auth.Approver, &a.approver2}} {
		token, key, err := auth.Generate(k.name, k.role)
		require.NoError(t, err)
		*k.token, keys = token, append(keys, key)
	}
	a.e = pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: users, InstalledFraction: 0.5, Seed: 21}, Keys: keys})
	for _, u := range members(a.e)[:2] {
		a.notified = append(a.notified, u.ID)
	}
	a.e.StopDispatcher()
	a.e.SetApproval(dispatch.Approval{Policy: p, Notify: a.notified, ConsoleURL: consoleURL})
	a.e.StartDispatcher()
	for _, u := range members(a.e) {
		if u.ID != a.notified[0] && u.ID != a.notified[1] {
			a.others = append(a.others, u)
		}
	}
	require.Len(t, a.notified, 2)
	return a
}

// call makes a request as the key token; it returns the status and body.
func (a *approvals) call(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	pipelinetest.AsKey(a.e.Server, token).ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &eb), string(body))
	return eb.Error.Code
}

// createPending creates an all-users broadcast as token and checks that
// it waits for approval, untouched.
func (a *approvals) createPending(t *testing.T, token, text string) broadcast.Broadcast {
	t.Helper()
	code, body := a.call(t, token, http.MethodPost, "/v1/broadcasts", fmt.Sprintf(`{"message":{"text":%q},"audience":{"allUsers":true}}`, text))
	require.Equal(t, http.StatusAccepted, code, string(body))
	b := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusPendingApproval, b.Status)
	require.NotNil(t, b.Approval)
	require.Empty(t, b.Approval.Decision)
	return b
}

// delivered counts the messages each user got.
func delivered(e *pipelinetest.Env, users []teamsim.User) int {
	n := 0
	for _, u := range users {
		n += len(e.Sim.UserDeliveries(e.Tenant, u.ID))
	}
	return n
}

// A broadcast the policy holds back is not expanded, queued or sent; the
// approvers are told in Teams by the bot, with a card that links to it;
// nobody decides on their own broadcast, viewers and authors not at all;
// once approved it reaches everyone; a second approval is a conflict;
// every step is in the audit log.
func TestApprovalHoldsTheBroadcastUntilApproved(t *testing.T) {
	t.Parallel()
	a := startApprovals(t, "all-users", 25)
	e := a.e
	b := a.createPending(t, a.author, "Reorganisation")
	require.Equal(t, "all-users", b.Approval.Rule)
	require.NotEmpty(t, b.Approval.RequestID, "the approvers were told")
	path := "/v1/broadcasts/" + b.ID

	// The approval request reaches the two approvers, and only them.
	req := e.WaitCompleted(b.Approval.RequestID, 2*time.Minute)
	require.Equal(t, broadcast.KindApprovalRequest, req.Kind)
	require.Equal(t, b.ID, req.PreviewOf)
	require.Nil(t, req.Approval, "an approval request never needs approval")
	require.EqualValues(t, 2, req.Counts.Sent)
	require.NotNil(t, req.Message.Template)
	require.Contains(t, req.Message.Template.Title, "Reorganisation")
	require.Contains(t, req.Message.Template.Summary, "author")
	require.Contains(t, req.Message.Template.Summary, "all users")
	require.Equal(t, consoleURL+"/broadcasts/"+b.ID, req.Message.Template.Buttons[0].URL)
	recs, _, err := e.Store.Recipients(context.Background(), req.ID, broadcast.StateSent, "", 10)
	require.NoError(t, err)
	for _, r := range recs {
		got := e.Sim.UserDeliveries(e.Tenant, r.UserID)
		require.Len(t, got, 1, "approver %s got the request once", r.UserID)
		require.Equal(t, r.ActivityID, got[0].ActivityID, "the simulator's ledger holds the request's message")
	}
	require.Zero(t, delivered(e, a.others))
	untouched(t, e, b.ID, broadcast.StatusPendingApproval)

	// Who may not decide.
	code, body := a.call(t, a.viewer, http.MethodPost, path+"/approve", "")
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "forbidden", errorCode(t, body))
	code, body = a.call(t, a.author, http.MethodPost, path+"/approve", `{"comment":"mine, and fine"}`)
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "forbidden", errorCode(t, body))
	own := a.createPending(t, a.approver, "An approver's own")
	code, body = a.call(t, a.approver, http.MethodPost, "/v1/broadcasts/"+own.ID+"/approve", "")
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "own_broadcast", errorCode(t, body))
	code, body = a.call(t, a.approver, http.MethodPost, "/v1/broadcasts/"+own.ID+"/reject", `{"comment":"changed my mind"}`)
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "own_broadcast", errorCode(t, body))
	admins := a.createPending(t, e.AdminKey, "An admin's own")
	code, body = a.call(t, e.AdminKey, http.MethodPost, "/v1/broadcasts/"+admins.ID+"/approve", "")
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "own_broadcast", errorCode(t, body))

	// An edit would change what the approver decides on; a replay has
	// nothing to replay.
	code, body = a.call(t, e.AdminKey, http.MethodPost, path+"/edit", `{"message":{"text":"sneaky"}}`)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "pending_approval", errorCode(t, body))
	code, body = a.call(t, e.AdminKey, http.MethodPost, path+"/replay", `{}`)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "pending_approval", errorCode(t, body))
	untouched(t, e, b.ID, broadcast.StatusPendingApproval)
	require.Zero(t, delivered(e, a.others))

	// The listing shows it pending.
	code, body = a.call(t, a.viewer, http.MethodGet, "/v1/broadcasts?status=pending_approval&tenantId="+e.Tenant, "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), b.ID)
	pending, err := e.Store.PendingApproval(context.Background(), 100)
	require.NoError(t, err)
	require.Contains(t, pending, b.ID)

	// Another approver approves: it is sent to everyone.
	code, body = a.call(t, a.approver, http.MethodPost, path+"/approve", `{"comment":"checked with legal"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeBroadcast(t, body)
	require.NotEqual(t, broadcast.StatusPendingApproval, got.Status)
	require.Equal(t, broadcast.DecisionApproved, got.Approval.Decision)
	require.Equal(t, "approver", got.Approval.By)
	require.Equal(t, "checked with legal", got.Approval.Comment)
	require.NotNil(t, got.Approval.At)
	done := e.WaitCompleted(b.ID, 2*time.Minute)
	require.EqualValues(t, len(members(e)), done.Counts.Sent)
	require.Equal(t, len(a.others), delivered(e, a.others), "everyone else got it once")
	pending, err = e.Store.PendingApproval(context.Background(), 100)
	require.NoError(t, err)
	require.NotContains(t, pending, b.ID)

	code, body = a.call(t, a.approver2, http.MethodPost, path+"/approve", "")
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "not_pending", errorCode(t, body))

	// The audit log has every step.
	entries, _, err := e.Store.Audit(context.Background(), store.AuditFilter{BroadcastID: b.ID, Limit: 100})
	require.NoError(t, err)
	var steps []string
	for _, en := range entries {
		steps = append(steps, fmt.Sprintf("%s %s %d %s", en.Actor, en.Action, en.Status, en.Code))
	}
	for _, want := range []string{"author broadcast.create 202 ", "viewer broadcast.approve 403 ",
		"author broadcast.approve 403 ", "admin broadcast.edit 409 pending_approval",
		"approver broadcast.approve 200 ", "approver2 broadcast.approve 409 not_pending"} {
		require.Contains(t, steps, want)
	}
	entries, _, err = e.Store.Audit(context.Background(), store.AuditFilter{BroadcastID: b.Approval.RequestID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "broadcast.request_approval", entries[0].Action)
	entries, _, err = e.Store.Audit(context.Background(), store.AuditFilter{BroadcastID: own.ID, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, "own_broadcast", entries[0].Code, "the refused self-approval is logged")
}

// A rejected broadcast sends nothing and is final; the rejection needs a
// comment, which its status shows.
func TestRejectedBroadcastSendsNothing(t *testing.T) {
	t.Parallel()
	a := startApprovals(t, "always", 12)
	e := a.e
	b := a.createPending(t, a.author, "Too early")
	require.Equal(t, "always", b.Approval.Rule)
	path := "/v1/broadcasts/" + b.ID
	e.WaitCompleted(b.Approval.RequestID, 2*time.Minute)

	code, body := a.call(t, a.approver, http.MethodPost, path+"/reject", `{}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), `"field": "comment"`)
	code, body = a.call(t, a.approver, http.MethodPost, path+"/reject", `{"comment":"`+strings.Repeat("x", broadcast.MaxCommentChars+1)+`"}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = a.call(t, a.approver, http.MethodPost, path+"/reject", `{"comment":"Wait for the board on Friday"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusRejected, got.Status)
	require.Equal(t, broadcast.DecisionRejected, got.Approval.Decision)
	require.Equal(t, "Wait for the board on Friday", got.Approval.Comment)
	require.NotNil(t, got.CompletedAt)

	for _, c := range []struct{ call, body, code string }{
		{"approve", "", "not_pending"}, {"reject", `{"comment":"again"}`, "not_pending"},
		{"cancel", "", "rejected"}, {"replay", "{}", "rejected"},
	} {
		code, body = a.call(t, e.AdminKey, http.MethodPost, path+"/"+c.call, c.body)
		require.Equal(t, http.StatusConflict, code, "%s: %s", c.call, body)
		require.Equal(t, c.code, errorCode(t, body), c.call)
	}
	untouched(t, e, b.ID, broadcast.StatusRejected)

	// A create retried with its Idempotency-Key gets the same pending
	// broadcast, and the approvers are told once.
	body = []byte(`{"message":{"text":"Once"},"audience":{"allUsers":true}}`)
	code, first := postJSON(t, pipelinetest.AsKey(e.Server, a.author), "/v1/broadcasts", string(body), "Idempotency-Key", "approval-once")
	require.Equal(t, http.StatusAccepted, code, string(first))
	code, again := postJSON(t, pipelinetest.AsKey(e.Server, a.author), "/v1/broadcasts", string(body), "Idempotency-Key", "approval-once")
	require.Equal(t, http.StatusOK, code, string(again))
	once, retried := decodeBroadcast(t, first), decodeBroadcast(t, again)
	require.Equal(t, once.ID, retried.ID)
	require.Equal(t, broadcast.StatusPendingApproval, retried.Status)
	require.Equal(t, once.Approval.RequestID, retried.Approval.RequestID)
	e.WaitCompleted(once.Approval.RequestID, 2*time.Minute)
	code, body = a.call(t, a.viewer, http.MethodGet, "/v1/broadcasts?kind=approval_request&tenantId="+e.Tenant, "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 2, strings.Count(string(body), `"kind": "approval_request"`), "one request per broadcast held back: %s", body)
	require.Zero(t, delivered(e, a.others))
}

// Cancel ends a pending broadcast at once; approved with a sendAt ahead,
// a broadcast waits for its time too.
func TestPendingBroadcastCancelAndSchedule(t *testing.T) {
	t.Parallel()
	a := startApprovals(t, "audience-over:3", 10)
	e := a.e
	var ids []string
	for _, u := range a.others[:4] {
		ids = append(ids, `"`+u.ID+`"`)
	}
	// Within the bound: not held back.
	code, body := a.call(t, a.author, http.MethodPost, "/v1/broadcasts", `{"message":{"text":"small"},"audience":{"userIds":[`+strings.Join(ids[:3], ",")+`]}}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	small := decodeBroadcast(t, body)
	require.Nil(t, small.Approval)
	e.WaitCompleted(small.ID, 2*time.Minute)

	code, body = a.call(t, a.author, http.MethodPost, "/v1/broadcasts", `{"message":{"text":"four"},"audience":{"userIds":[`+strings.Join(ids, ",")+`]}}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	b := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusPendingApproval, b.Status)
	require.Equal(t, "audience-over:3", b.Approval.Rule)
	code, body = a.call(t, a.author, http.MethodPost, "/v1/broadcasts/"+b.ID+"/cancel", "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, broadcast.StatusCanceled, decodeBroadcast(t, body).Status)
	code, body = a.call(t, a.approver, http.MethodPost, "/v1/broadcasts/"+b.ID+"/approve", "")
	require.Equal(t, http.StatusConflict, code, string(body))
	untouched(t, e, b.ID, broadcast.StatusCanceled)

	at := time.Now().Add(2 * time.Second)
	code, body = a.call(t, a.author, http.MethodPost, "/v1/broadcasts", fmt.Sprintf(`{"message":{"text":"later"},"audience":{"allUsers":true},"sendAt":%q}`,
		at.UTC().Format(time.RFC3339Nano)))
	require.Equal(t, http.StatusAccepted, code, string(body))
	s := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusPendingApproval, s.Status)
	require.NotNil(t, s.SendAt)
	code, body = a.call(t, a.approver, http.MethodPost, "/v1/broadcasts/"+s.ID+"/approve", "")
	require.Equal(t, http.StatusOK, code, string(body))
	if time.Now().Before(at) {
		require.Equal(t, broadcast.StatusScheduled, decodeBroadcast(t, body).Status, "approved before its time, it waits for it")
	}
	done := e.WaitCompleted(s.ID, 2*time.Minute)
	require.False(t, done.StartedAt.Before(at.Truncate(time.Millisecond)), "started %s, not before %s", done.StartedAt, at)
	require.EqualValues(t, len(members(e)), done.Counts.Sent)
}

// An approval and a cancel racing leave one consistent outcome: either
// the cancel came first (the approval is refused, nothing was recorded or
// sent) or the approval did (the cancel stops it like any running
// broadcast); it always ends canceled, its counters adding up.
func TestApproveRacingCancelIsConsistent(t *testing.T) {
	t.Parallel()
	a := startApprovals(t, "always", 8)
	e := a.e
	var ids []string
	for _, u := range a.others {
		ids = append(ids, u.ID)
	}
	outcomes := map[string]int{}
	for i := range 12 {
		b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: fmt.Sprintf("race %d", i)},
			Audience: broadcast.Audience{UserIDs: ids}, CreatedBy: "author"})
		require.Equal(t, broadcast.StatusPendingApproval, b.Status)
		var wg sync.WaitGroup
		var approveErr, cancelErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, approveErr = e.Dispatcher.Approve(context.Background(), b.ID, &broadcast.DecisionRequest{By: "approver"})
		}()
		go func() {
			defer wg.Done()
			_, _, cancelErr = e.Dispatcher.Cancel(context.Background(), b.ID)
		}()
		wg.Wait()
		require.NoError(t, cancelErr, "a cancel of a pending or a running broadcast is accepted")
		final := e.WaitStatus(b.ID, broadcast.StatusCanceled, 2*time.Minute)
		c := final.Counts
		require.Equal(t, c.Total, c.Pending+c.Installing+c.Sending+c.Sent+c.Blocked+c.Failed+c.Canceled, "%+v", c)
		require.Equal(t, c.Total, c.Done(), "every recipient final: %+v", c)
		if approveErr != nil {
			var conflict *broadcast.ConflictError
			require.ErrorAs(t, approveErr, &conflict)
			require.Equal(t, "not_pending", conflict.Code)
			require.Zero(t, c.Total, "canceled before the approval: nothing recorded")
			require.Empty(t, final.Approval.Decision, "no decision recorded")
			outcomes["cancel first"]++
		} else {
			require.Equal(t, broadcast.DecisionApproved, final.Approval.Decision)
			outcomes["approve first"]++
		}
	}
	t.Logf("outcomes: %v", outcomes)
}
