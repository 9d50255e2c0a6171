package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Accounts of the simulator's identity provider (teamsim.IdPAccounts).
const (
	adminAccount, authorAccount, author2Account, approverAccount, viewerAccount = 0, 1, 2, 3, 4
)

// setupApprovals is a console whose every broadcast waits for approval.
func setupApprovals(t *testing.T) *bundle {
	return setup(t, pipelinetest.Options{Approval: dispatch.Approval{Policy: broadcast.ApprovalPolicy{Always: true}}})
}

// A broadcast held back is listed for the approvers; one approves it
// from its page, as themselves, and it starts; the decision is on the
// page and in the audit log.
func TestApproverApprovesFromTheConsole(t *testing.T) {
	t.Parallel()
	b := setupApprovals(t)
	approver, author := b.browser(t), b.browser(t)
	readBody(t, approver.signIn(approverAccount))
	readBody(t, author.signIn(authorAccount))
	bc := b.create(t, b.accounts[authorAccount].UPN, 4)
	require.Equal(t, broadcast.StatusPendingApproval, bc.Status)

	res, page := approver.get("/approvals")
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, `href="/approvals" aria-current="page"`, "approvers have the page in the nav")
	require.Contains(t, page, `href="/broadcasts/`+bc.ID+`"`)
	for _, cell := range []string{"Town hall at 10", b.accounts[authorAccount].UPN, "<td>listed users</td>", "<code>always</code>"} {
		require.Contains(t, page, cell)
	}
	_, page = author.get("/broadcasts")
	require.NotContains(t, page, `href="/approvals"`, "authors do not")

	res, page = approver.get("/broadcasts/" + bc.ID)
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, `id="live-status">pending_approval<`)
	require.Contains(t, page, `id="approval-state"`)
	require.Contains(t, page, `<label for="comment">`)
	require.Contains(t, page, `action="/broadcasts/`+bc.ID+`/approve"`)
	require.Contains(t, page, `formaction="/broadcasts/`+bc.ID+`/reject"`)

	res, page = approver.post("/broadcasts/"+bc.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}, "comment": {"Checked with HR"}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Equal(t, "/broadcasts/"+bc.ID, res.Request.URL.Path)
	require.Contains(t, page, "The broadcast is approved")
	require.Contains(t, page, `status-approved">approved<`)
	require.Contains(t, page, "<dd>"+b.accounts[approverAccount].UPN+"</dd>")
	require.Contains(t, page, "Checked with HR")
	require.NotContains(t, page, `<label for="comment">`, "decided once")

	done := b.e.WaitCompleted(bc.ID, 2*time.Minute)
	require.Equal(t, int64(4), done.Counts.Sent, "approved, it reached its audience")
	require.Equal(t, broadcast.DecisionApproved, done.Approval.Decision)
	require.Equal(t, b.accounts[approverAccount].UPN, done.Approval.By)
	_, page = approver.get("/approvals")
	require.NotContains(t, page, `href="/broadcasts/`+bc.ID+`"`, "no longer waiting")

	entries, _, err := b.e.Store.Audit(t.Context(), store.AuditFilter{BroadcastID: bc.ID, Actor: b.accounts[approverAccount].UPN, Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, api.ActionApprove, entries[0].Action)
	require.Equal(t, http.StatusOK, entries[0].Status)
}

// A rejection needs a comment: without one the API's problem is shown at
// the field; with one the broadcast is rejected, and never sent.
func TestApproverRejectsWithAComment(t *testing.T) {
	t.Parallel()
	b := setupApprovals(t)
	admin := b.browser(t)
	readBody(t, admin.signIn(adminAccount)) // admins decide too, on others' broadcasts
	bc := b.create(t, b.accounts[author2Account].UPN, 3)

	_, page := admin.get("/approvals")
	require.Contains(t, page, `href="/approvals"`)
	_, page = admin.get("/broadcasts/" + bc.ID)
	token := csrfOf(t, page)

	res, page := admin.post("/broadcasts/"+bc.ID+"/reject", url.Values{"csrf": {token}, "comment": {"   "}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
	require.Contains(t, page, `aria-invalid="true" aria-describedby="comment-problem"`)
	require.Contains(t, page, `id="comment-problem"`)
	require.Contains(t, page, "required: say why the broadcast is rejected")
	got, err := b.e.Store.Broadcast(t.Context(), bc.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusPendingApproval, got.Status)

	long := strings.Repeat("x", broadcast.MaxCommentChars+1)
	res, page = admin.post("/broadcasts/"+bc.ID+"/reject", url.Values{"csrf": {token}, "comment": {long}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
	require.Contains(t, page, "at most 1000")
	require.Contains(t, page, ">"+long+"</textarea>", "what was typed is kept")

	res, page = admin.post("/broadcasts/"+bc.ID+"/reject", url.Values{"csrf": {token}, "comment": {"Wrong date <b>"}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, "The broadcast is rejected")
	require.Contains(t, page, `id="live-status">rejected<`)
	require.Contains(t, page, "Rejected: nothing was sent.")
	require.Contains(t, page, "Wrong date &lt;b&gt;")
	got, err = b.e.Store.Broadcast(t.Context(), bc.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusRejected, got.Status)
	require.Equal(t, "Wrong date <b>", got.Approval.Comment)
	require.Zero(t, got.Counts.Sent)

	// A second decision is the API's conflict.
	res, page = admin.post("/broadcasts/"+bc.ID+"/approve", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusConflict, res.StatusCode, page)
	require.Contains(t, page, "not pending approval")
}

// Nobody decides on their own broadcast: the creator gets no form, and a
// forged decision is the API's 403. Viewers and authors may not decide,
// and no decision is taken without the session's CSRF token.
func TestDecisionsRefused(t *testing.T) {
	t.Parallel()
	b := setupApprovals(t)
	approver, viewer, author := b.browser(t), b.browser(t), b.browser(t)
	readBody(t, approver.signIn(approverAccount))
	readBody(t, viewer.signIn(viewerAccount))
	readBody(t, author.signIn(authorAccount))
	own := b.create(t, b.accounts[approverAccount].UPN, 2)
	other := b.create(t, b.accounts[authorAccount].UPN, 2)

	t.Run("the creator", func(t *testing.T) {
		res, page := approver.get("/approvals")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, page, "(you: another approver decides)")
		res, page = approver.get("/broadcasts/" + own.ID)
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		require.Contains(t, page, `id="approval-state"`)
		require.NotContains(t, page, `<label for="comment">`)
		require.Contains(t, page, `id="own-broadcast"`)
		res, page = approver.post("/broadcasts/"+own.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}})
		require.Equal(t, http.StatusForbidden, res.StatusCode, page)
		require.Contains(t, page, "nobody approves or rejects their own broadcast")
	})
	t.Run("a viewer", func(t *testing.T) {
		res, page := viewer.get("/broadcasts/" + other.ID)
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		require.NotContains(t, page, `<label for="comment">`)
		require.NotContains(t, page, `href="/approvals"`)
		res, page = viewer.post("/broadcasts/"+other.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}})
		require.Equal(t, http.StatusForbidden, res.StatusCode, page)
		res, _ = viewer.post("/broadcasts/"+other.ID+"/reject", url.Values{"csrf": {csrfOf(t, page)}, "comment": {"no"}})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})
	t.Run("an author", func(t *testing.T) {
		_, page := author.get("/broadcasts/" + other.ID)
		require.NotContains(t, page, `<label for="comment">`, "the author's own, and authors do not decide")
		res, _ := author.post("/broadcasts/"+other.ID+"/approve", url.Values{"csrf": {csrfOf(t, page)}})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})
	t.Run("no CSRF token", func(t *testing.T) {
		res, page := approver.post("/broadcasts/"+other.ID+"/approve", url.Values{})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Contains(t, page, "did not come from the console")
		res, _ = approver.post("/broadcasts/"+other.ID+"/reject", url.Values{"comment": {"no"}})
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})
	for _, id := range []string{own.ID, other.ID} {
		got, err := b.e.Store.Broadcast(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, broadcast.StatusPendingApproval, got.Status, "nothing decided")
		require.Nil(t, got.Approval.At)
	}
}
