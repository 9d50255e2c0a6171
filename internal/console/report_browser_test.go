//go:build browser

package console_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func number(t *testing.T, ctx context.Context, css string) int64 {
	n, err := strconv.ParseInt(text(t, ctx, css), 10, 64)
	require.NoError(t, err, css)
	return n
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// confirmByKeyboard presses Enter on the form's button and waits for
// the broadcast's page to say what was done.
func confirmByKeyboard(t *testing.T, ctx context.Context, button string) {
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(button)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	))
}

// statesListed and usersListed are the states and the user ids of the
// recipients the page lists.
func statesListed(t *testing.T, ctx context.Context) []string { return column(t, ctx, 1) }
func usersListed(t *testing.T, ctx context.Context) []string  { return column(t, ctx, 0) }

func column(t *testing.T, ctx context.Context, i int) []string {
	return eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#recipients-h ~ table tbody tr"))
		.filter(tr => tr.cells.length === 7).map(tr => tr.cells[`+strconv.Itoa(i)+`].textContent)`)
}

// Watch a broadcast complete against the simulator, read its report (the
// chart and the table it is drawn from), page and filter its recipients,
// download its CSV, then edit and recall it behind their confirmations.
func TestBrowserWatchReportEditAndRecall(t *testing.T) {
	const users = 150 // over 128: Redis keeps the records in a hash table, which HSCAN pages
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: users, InstalledFraction: 0.8, BlockedFraction: 0.1, Seed: 11}})
	ctx := newTab(t)
	b.signInAs(t, ctx, 0) // admin: may edit and recall
	bc := b.create(t, b.accounts[1].UPN, users)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts/"+bc.ID),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-final="true"]`)),
	))
	done := b.e.WaitCompleted(bc.ID, time.Minute)
	require.True(t, eval[bool](t, ctx, `document.getElementById("edit-link").offsetParent !== null && document.getElementById("recall-link").offsetParent !== null`),
		"edit and recall once someone got it")
	c := done.Counts
	require.EqualValues(t, users, c.Total)
	require.Positive(t, c.Sent)
	require.Positive(t, c.Blocked, "the simulator's blocked users")

	// The chart is drawn, and the table it is drawn from (its text
	// alternative) sums to the counters the feed shows.
	require.True(t, eval[bool](t, ctx, `document.querySelector("#deliveries-chart canvas") !== null`), "the deliveries chart is drawn")
	require.Equal(t, c.Sent, number(t, ctx, `#count-sent`))
	require.Equal(t, c.Sent, number(t, ctx, `#deliveries-sent`))
	require.Equal(t, c.Blocked, number(t, ctx, `#deliveries-blocked`))
	require.Equal(t, c.Failed, number(t, ctx, `#deliveries-failed`))
	sums := eval[[]int64](t, ctx, `[1, 2, 3].map(i => Array.from(document.querySelectorAll("#deliveries-table tbody tr[data-at]"))
		.reduce((s, tr) => s + Number(tr.cells[i].textContent), 0))`)
	require.Equal(t, []int64{c.Sent, c.Blocked, c.Failed}, sums, "the rows sum to the totals")
	require.Equal(t, c.Sent, number(t, ctx, `#reads-delivered`))
	require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(`#deliveries`))))
	screenshot(t, ctx, "broadcast-report")
	accessible(t, ctx, "a broadcast's report")

	// The recipients (as the page reloaded lists them), a page at a time
	// (about 50: the API's pages of all states are a Redis HSCAN's, and
	// the last may be empty), then back to the first.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.url+"/broadcasts/"+bc.ID), chromedp.WaitVisible(chromedp.CSS(`#recipients-h`))))
	seen, pages := map[string]bool{}, 0
	for {
		ids := usersListed(t, ctx)
		if len(ids) == 0 { // the scan's last page may be empty
			require.Positive(t, pages)
			require.False(t, eval[bool](t, ctx, `document.getElementById("next-page") !== null`))
		}
		for _, id := range ids {
			require.False(t, seen[id], "%s listed twice", id)
			seen[id] = true
		}
		if pages++; pages > 1 {
			require.True(t, eval[bool](t, ctx, `document.getElementById("first-page") !== null`), "a way back")
		}
		if !eval[bool](t, ctx, `document.getElementById("next-page") !== null`) {
			break
		}
		next := eval[string](t, ctx, `document.getElementById("next-page").href`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(next), chromedp.WaitVisible(chromedp.CSS(`#first-page`))))
	}
	require.Len(t, seen, users, "every recipient, once")
	require.GreaterOrEqual(t, pages, users/50)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#first-page`)), chromedp.WaitVisible(chromedp.CSS(`#next-page`))))
	require.False(t, eval[bool](t, ctx, `document.getElementById("first-page") !== null`))

	// Filtered by state, from the keyboard's form.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#state`), "blocked"),
		chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)),
		chromedp.WaitReady(chromedp.CSS(`#state option[value="blocked"][selected]`)), // the page the filter loaded
	))
	blocked := statesListed(t, ctx)
	require.Len(t, blocked, int(c.Blocked))
	for _, s := range blocked {
		require.Equal(t, "blocked", s)
	}
	require.Contains(t, eval[string](t, ctx, `document.getElementById("export-link").getAttribute("href")`), "state=blocked")

	// The export downloads: every recipient, a row each.
	dir := t.TempDir()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
			return err
		}),
		chromedp.Navigate(b.url+"/broadcasts/"+bc.ID),
		chromedp.Click(chromedp.CSS(`#export-link`)),
	))
	rows := waitDownload(t, dir)
	require.Len(t, rows, users+1, "a header and a row per recipient")
	require.Contains(t, rows[0], "userId")

	// Edit: the confirmation says whom it reaches; a bad message is
	// refused at its field; the new one reaches the simulator.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts/"+bc.ID),
		chromedp.Click(chromedp.CSS(`#edit-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#edit-effect`)),
	))
	require.Equal(t, c.Sent, number(t, ctx, `#edit-effect [data-testid="affected"]`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#text`), "   "),
		chromedp.Click(chromedp.CSS(`form.edit button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#text-problem`)),
	))
	require.Equal(t, "true", eval[string](t, ctx, `document.getElementById("text").getAttribute("aria-invalid")`))
	screenshot(t, ctx, "edit")
	accessible(t, ctx, "the edit with a problem")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#text`), "Town hall moved to 11")))
	confirmByKeyboard(t, ctx, `form.edit button[type="submit"]`)
	require.Contains(t, text(t, ctx, `.notice`), "queued for "+strconv.FormatInt(c.Sent, 10)+" recipients")
	edited := b.e.WaitFor(bc.ID, time.Minute, "edit done", func(x *broadcast.Broadcast) bool {
		return x.Edit != nil && x.Edit.Status == broadcast.ChangeCompleted
	})
	require.Equal(t, c.Sent, edited.Edit.Done)
	require.Equal(t, "Town hall moved to 11", edited.Message.Text)
	require.Equal(t, c.Sent, b.e.Sim.Ledger().Updates, "the simulator updated each recipient's message")
	// The page's feed follows the edit to its end.
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#live[data-final="true"]`))))
	require.Equal(t, "completed", text(t, ctx, `#change-edit [data-field="status"]`))
	require.Equal(t, c.Sent, number(t, ctx, `#change-edit [data-field="done"]`))

	// Recall: the same, and each message is deleted.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#recall-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#recall-effect`)),
	))
	require.Equal(t, c.Sent, number(t, ctx, `#recall-effect [data-testid="affected"]`))
	screenshot(t, ctx, "recall")
	accessible(t, ctx, "the recall confirmation")
	confirmByKeyboard(t, ctx, `form.confirm button[type="submit"]`)
	recalled := b.e.WaitFor(bc.ID, time.Minute, "recall done", func(x *broadcast.Broadcast) bool {
		return x.Recall != nil && x.Recall.Status == broadcast.ChangeCompleted
	})
	require.Equal(t, c.Sent, recalled.Recall.Done)
	require.Equal(t, c.Sent, b.e.Sim.Ledger().Deletes, "the simulator deleted each recipient's message")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#live[data-final="true"]`))))
	require.Equal(t, c.Sent, number(t, ctx, `#change-recall [data-field="done"]`))
	require.False(t, eval[bool](t, ctx, `document.getElementById("edit-link") !== null || document.getElementById("recall-link") !== null`),
		"nothing to edit or recall after a recall")
	accessible(t, ctx, "a broadcast with its changes")
}

// A cancel's confirmation counts the recipients it stops.
func TestBrowserCancelSaysWhomItStops(t *testing.T) {
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	ctx := newTab(t)
	b.signInAs(t, ctx, 0)
	bc := b.create(t, b.accounts[1].UPN, 6)
	b.e.WaitStatus(bc.ID, broadcast.StatusSending, time.Minute) // no workers: every recipient waits
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts/"+bc.ID),
		chromedp.Click(chromedp.CSS(`#cancel-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#cancel-effect`)),
	))
	require.Equal(t, int64(6), number(t, ctx, `#cancel-effect [data-testid="affected"]`))
	require.Contains(t, text(t, ctx, `#cancel-effect`), "0 already got it")
}

// waitDownload waits for the one file downloaded into dir and returns
// its CSV rows.
func waitDownload(t *testing.T, dir string) [][]string {
	var name string
	require.Eventually(t, func() bool {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		if len(entries) != 1 || strings.HasSuffix(entries[0].Name(), ".crdownload") {
			return false
		}
		name = entries[0].Name()
		return true
	}, 30*time.Second, 50*time.Millisecond, "the CSV is downloaded")
	f, err := os.Open(filepath.Join(dir, name))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}
