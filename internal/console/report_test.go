package console_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func TestReportTablesFiltersAndDepartments(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 8, InstalledFraction: 1, BlockedFraction: 0.3, Seed: 3}})
	br := b.browser(t)
	readBody(t, br.signIn(4)) // a viewer
	bc := b.create(t, b.accounts[1].UPN, 8)
	c := b.e.WaitCompleted(bc.ID, 2*time.Minute).Counts

	res, page := br.get("/broadcasts/" + bc.ID)
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, `id="deliveries-sent">`+itoa(c.Sent)+`<`, "the chart's table sums to the counters")
	require.Contains(t, page, `id="deliveries-blocked">`+itoa(c.Blocked)+`<`)
	require.Contains(t, page, `id="deliveries-chart" data-table="deliveries-table" aria-hidden="true"`, "the chart has its table")
	require.Contains(t, page, `id="departments-link"`, "the breakdown only when asked for")
	require.NotContains(t, page, `class="departments"`)
	require.NotContains(t, page, `id="edit-link"`, "a viewer may not edit")
	require.NotContains(t, page, `id="recall-link"`)

	res, page = br.get("/broadcasts/" + bc.ID + "?breakdown=department")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, page, `class="departments"`)
	require.Contains(t, page, `<meter min="0" max=`)

	// The engagement filter: the API's problems at their field.
	res, page = br.get("/broadcasts/" + bc.ID + "?engagement=seen")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, page, `id="engagement-problem"`)
	require.Contains(t, page, `<select id="engagement" name="engagement" aria-invalid="true"`)
	res, page = br.get("/broadcasts/" + bc.ID + "?engagement=read&state=failed")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, page, "goes with state sent")
	res, page = br.get("/broadcasts/" + bc.ID + "?engagement=unacknowledged")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, int(c.Sent), strings.Count(page, "<td>sent</td>"), "nobody acknowledged: every recipient sent it")
	require.Contains(t, page, `<option value="unacknowledged" selected>`)
}

// The live feed carries the series the charts draw: they sum to the
// counters it sends.
func TestLiveFeedCarriesTheSeries(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 6, InstalledFraction: 1, BlockedFraction: 0.3, Seed: 5}})
	br := b.browser(t)
	readBody(t, br.signIn(4))
	bc := b.create(t, b.accounts[1].UPN, 6)
	res, err := br.http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
	require.NoError(t, err)
	defer res.Body.Close()
	last := lastProgress(t, res.Body)
	require.True(t, last.Final)
	var sum store.DeliveryPoint
	for _, p := range append(last.Deliveries.Minutes, last.Deliveries.Hours...) {
		sum.Sent, sum.Blocked, sum.Failed = sum.Sent+p.Sent, sum.Blocked+p.Blocked, sum.Failed+p.Failed
	}
	require.Equal(t, last.Counts.Sent, sum.Sent)
	require.Equal(t, last.Counts.Blocked, sum.Blocked)
	require.Equal(t, last.Counts.Failed, sum.Failed)
	require.EqualValues(t, 6, last.Counts.Done())
	require.NotNil(t, last.Reads, "the reads' series, empty")
}

type feedProgress struct {
	Counts     broadcast.Counts      `json:"counts"`
	Deliveries *store.DeliverySeries `json:"deliveries"`
	Reads      *json.RawMessage      `json:"reads"`
	Final      bool                  `json:"final"`
}

// lastProgress reads a feed to its end and returns its last progress.
func lastProgress(t *testing.T, r io.Reader) feedProgress {
	var last feedProgress
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "{}" {
			require.NoError(t, json.Unmarshal([]byte(data), &last))
		}
	}
	return last
}

func TestEditAndRecallFollowTheAPIsRules(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 6, InstalledFraction: 1}})
	author, admin := b.browser(t), b.browser(t)
	readBody(t, author.signIn(1))
	readBody(t, admin.signIn(0))
	bc := b.create(t, b.accounts[1].UPN, 6)
	sent := b.e.WaitCompleted(bc.ID, time.Minute).Counts.Sent
	require.EqualValues(t, 6, sent)

	// The API's policy: edit and recall are the admins'.
	_, page := author.get("/broadcasts/" + bc.ID)
	require.NotContains(t, page, `id="edit-link"`)
	res, page := author.get("/broadcasts/" + bc.ID + "/edit")
	require.Equal(t, http.StatusConflict, res.StatusCode, page)
	res, _ = author.post("/broadcasts/"+bc.ID+"/recall", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, res.StatusCode, "the API refuses an author's recall")

	_, page = admin.get("/broadcasts/" + bc.ID)
	require.Contains(t, page, `id="edit-link"`)
	require.Contains(t, page, `id="recall-link"`)
	res, confirm := admin.get("/broadcasts/" + bc.ID + "/edit")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, confirm, `data-testid="affected">6<`, "the confirmation says whom it reaches")
	require.Contains(t, confirm, ">Town hall at 10</textarea>", "the message as it is")

	// Without the CSRF token nothing changes; a blank message is refused at its field.
	res, _ = admin.post("/broadcasts/"+bc.ID+"/edit", url.Values{"text": {"Moved"}})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	res, page = admin.post("/broadcasts/"+bc.ID+"/edit", url.Values{"csrf": {csrfOf(t, confirm)}, "text": {" "}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
	require.Contains(t, page, `id="text-problem"`)
	got, err := b.e.Store.Broadcast(t.Context(), bc.ID)
	require.NoError(t, err)
	require.Nil(t, got.Edit, "nothing was edited")

	res, page = admin.post("/broadcasts/"+bc.ID+"/edit", url.Values{"csrf": {csrfOf(t, confirm)}, "text": {"Town hall moved to 11"}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, "It is queued for 6 recipients.")
	require.Contains(t, page, `id="change-edit"`)
	b.e.WaitFor(bc.ID, time.Minute, "edited", func(x *broadcast.Broadcast) bool {
		return x.Edit != nil && x.Edit.Status == broadcast.ChangeCompleted && x.Edit.Done == sent
	})

	res, confirm = admin.get("/broadcasts/" + bc.ID + "/recall")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, confirm, `data-testid="affected">6<`)
	require.NotContains(t, confirm, `data-testid="stopped"`, "it has ended: nothing left to stop")
	res, page = admin.post("/broadcasts/"+bc.ID+"/recall", url.Values{"csrf": {csrfOf(t, confirm)}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, "The recall is under way")
	require.NotContains(t, page, `id="recall-link"`, "recalled once")
	require.NotContains(t, page, `id="edit-link"`, "no edit after a recall")
	res, _ = admin.get("/broadcasts/" + bc.ID + "/edit")
	require.Equal(t, http.StatusConflict, res.StatusCode)

	entries, _, err := b.e.Store.Audit(t.Context(), store.AuditFilter{BroadcastID: bc.ID, Limit: 10})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Actor+" "+e.Action+" "+itoa(int64(e.Status)))
	}
	require.ElementsMatch(t, []string{
		b.accounts[1].UPN + " " + api.ActionRecall + " 403",
		b.accounts[0].UPN + " " + api.ActionEdit + " 400",
		b.accounts[0].UPN + " " + api.ActionEdit + " 202",
		b.accounts[0].UPN + " " + api.ActionRecall + " 202",
	}, actions)
}

// The edit and the recall wait for a recipient who got the message.
func TestChangesWaitForASend(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	admin := b.browser(t)
	readBody(t, admin.signIn(0))
	bc := b.create(t, b.accounts[1].UPN, 3)
	b.e.WaitStatus(bc.ID, broadcast.StatusSending, time.Minute) // no workers: nobody gets it
	_, page := admin.get("/broadcasts/" + bc.ID)
	require.Contains(t, page, `/edit" hidden>`, "offered, hidden until someone got it")
	require.Contains(t, page, `/recall" hidden>`)
	for _, p := range []string{"/edit", "/recall"} {
		res, body := admin.get("/broadcasts/" + bc.ID + p)
		require.Equal(t, http.StatusConflict, res.StatusCode, body)
		require.Contains(t, body, "nobody got it yet")
	}
}

// A template's title and summary are what the console edits; the API's
// problem with the title shows at it.
func TestEditATemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 6, InstalledFraction: 1}})
	admin := b.browser(t)
	readBody(t, admin.signIn(0))
	var ids []string
	for _, u := range b.e.Users()[:4] {
		ids = append(ids, u.ID)
	}
	bc := b.e.Create(broadcast.CreateRequest{Message: broadcast.Message{Template: &broadcast.Template{Title: "Benefits",
		Summary: "Enrol by **Friday**", Buttons: []broadcast.Button{{Title: "Enrol", URL: "https://hr.example/enrol"}}}},
		Audience: broadcast.Audience{UserIDs: ids}, CreatedBy: b.accounts[1].UPN})
	b.e.WaitCompleted(bc.ID, time.Minute)

	res, confirm := admin.get("/broadcasts/" + bc.ID + "/edit")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, confirm, `id="title" name="title" value="Benefits"`)
	res, page := admin.post("/broadcasts/"+bc.ID+"/edit", url.Values{"csrf": {csrfOf(t, confirm)}, "title": {""}, "summary": {"x"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
	require.Contains(t, page, `id="title-problem"`)
	res, page = admin.post("/broadcasts/"+bc.ID+"/edit", url.Values{"csrf": {csrfOf(t, confirm)}, "title": {"Benefits, again"}, "summary": {"Enrol by **Monday**"}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	got := b.e.WaitFor(bc.ID, time.Minute, "edited", func(x *broadcast.Broadcast) bool {
		return x.Edit != nil && x.Edit.Status == broadcast.ChangeCompleted
	})
	require.Equal(t, &broadcast.Template{Title: "Benefits, again", Summary: "Enrol by **Monday**",
		Buttons: []broadcast.Button{{Title: "Enrol", URL: "https://hr.example/enrol"}}}, got.Message.Template, "the buttons stay")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uPlot is served as the build its VERSION pins.
func TestUPlotIsThePinnedBuild(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true, Sim: teamsim.Config{UsersPerTenant: 6}})
	br := b.browser(t)
	version, err := os.ReadFile("static/vendor/uplot/VERSION")
	require.NoError(t, err)
	for _, f := range []string{"uPlot.iife.min.js", "uPlot.min.css"} {
		res, body := br.get("/static/vendor/uplot/" + f)
		require.Equal(t, http.StatusOK, res.StatusCode)
		sum := sha256.Sum256([]byte(body))
		require.Contains(t, string(version), "sha256 "+hex.EncodeToString(sum[:])+"  "+f)
	}
	res, lic := br.get("/static/vendor/uplot/LICENSE")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, lic, "The MIT License")
}
