//go:build browser

package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// The browser tests drive Debian's chromium (make test-browser). They
// are built only with the tag browser, and fail, never skip, when
// chromium is missing. UPDATE_SCREENSHOTS=1 writes their screenshots to
// docs/console/, where the README shows them.

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need chromium: apt-get update && apt-get install -y chromium")
	return ""
}

// newTab starts a headless chromium and returns a tab's context.
func newTab(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	require.NoError(t, chromedp.Do(ctx), "start chromium") // a timeout on this first run would stop the browser
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport: the test Redis holds other tests' broadcasts too
	require.NoError(t, err)
	dir := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "console")
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// accessible runs axe-core (vendored in testdata/axe) on the page and
// fails on any serious or critical WCAG 2 A/AA violation.
func accessible(t *testing.T, ctx context.Context, page string) {
	script, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(script)+";undefined"))
	require.NoError(t, err)
	type result struct {
		Violations []string `json:"violations"`
		Passes     int      `json:"passes"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[result](`axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}).then(r => ({
		passes: r.passes.length,
		violations: r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.id + ": " + v.help + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")")}))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Positive(t, got.Passes, "axe checked %s", page)
	require.Empty(t, got.Violations, "accessibility of %s", page)
}

func text(t *testing.T, ctx context.Context, css string) string {
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(t, err, css)
	return strings.TrimSpace(s)
}

// signInAs opens the console, picks the account on the simulator's
// authorize page and waits for the broadcasts.
func (b *bundle) signInAs(t *testing.T, ctx context.Context, i int) {
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts"),
		chromedp.WaitVisible(chromedp.CSS(`button[data-upn="`+b.accounts[i].UPN+`"]`)),
	))
	if i == 0 {
		screenshot(t, ctx, "sign-in")
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[data-upn="`+b.accounts[i].UPN+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="role"]`)),
	))
}

func TestBrowserSignInWatchAndCancel(t *testing.T) {
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 40, InstalledFraction: 0.8, BlockedFraction: 0.1, Seed: 7}})
	ctx := newTab(t)
	b.signInAs(t, ctx, 0)
	require.Equal(t, "admin", text(t, ctx, `[data-testid="role"]`))

	done := b.create(t, b.accounts[1].UPN, 40)
	later := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	var ids []string
	for _, u := range b.e.Users()[:10] {
		ids = append(ids, u.ID)
	}
	scheduled := b.e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Benefits enrolment opens Monday"},
		Audience: broadcast.Audience{UserIDs: ids}, CreatedBy: b.accounts[1].UPN, SendAt: &later})

	// The broadcast's page follows it live to the end.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts/"+done.ID),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-final="true"]`)),
	))
	require.Equal(t, "completed", text(t, ctx, `#live-status`))
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("cancel-link") === null || document.getElementById("cancel-link").offsetParent === null`))
	require.NoError(t, err)
	require.True(t, hidden, "no cancel once it has ended")
	b.e.WaitCompleted(done.ID, time.Minute)
	screenshot(t, ctx, "broadcast")
	accessible(t, ctx, "a broadcast")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.url+"/broadcasts"), chromedp.WaitVisible(chromedp.CSS(`table`))))
	screenshot(t, ctx, "broadcasts")
	accessible(t, ctx, "the broadcasts")

	// A request without the CSRF token is refused, even from the page.
	refused, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`fetch("/broadcasts/`+scheduled.ID+`/cancel", {method: "POST"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, 403, refused)

	// Cancel: the confirmation says whom it affects, then the keyboard confirms.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/broadcasts/"+scheduled.ID+"/cancel"),
		chromedp.WaitVisible(chromedp.CSS(`#cancel-effect`)),
	))
	require.Contains(t, text(t, ctx, `#cancel-effect`), "nobody of its audience will get it")
	screenshot(t, ctx, "cancel")
	accessible(t, ctx, "the cancel confirmation")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(`form.confirm button[type="submit"]`)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	))
	b.e.WaitFor(scheduled.ID, time.Minute, "canceled", func(x *broadcast.Broadcast) bool { return x.CanceledAt != nil })

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.url+"/audit"), chromedp.WaitVisible(chromedp.CSS(`table`))))
	audit := text(t, ctx, `table`)
	require.True(t, strings.Contains(audit, "broadcast.cancel"), audit)
	screenshot(t, ctx, "audit")
	accessible(t, ctx, "the audit log")

	// An author sees no audit log.
	author := newTab(t)
	b.signInAs(t, author, 1)
	links, err := chromedp.Run(author, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("nav a")).map(a => a.textContent)`))
	require.NoError(t, err)
	require.Equal(t, []string{"Broadcasts", "New broadcast", "Unreachable users"}, links)

	// The author composes a card; the API's problem shows at its field.
	require.NoError(t, chromedp.Do(author,
		chromedp.Navigate(b.url+"/compose"),
		chromedp.Click(chromedp.CSS(`#kind-template`)),
		chromedp.SendKeys(chromedp.CSS(`#title`), "Benefits enrolment, {{givenName}}"),
		chromedp.SendKeys(chromedp.CSS(`#summary`), "Enrol by **Friday**."),
		chromedp.SendKeys(chromedp.CSS(`#buttonTitle`), "Enrol"),
		chromedp.SendKeys(chromedp.CSS(`#buttonUrl`), "hr.example/enrol"),
		chromedp.Click(chromedp.CSS(`#aud-all`)),
		chromedp.Click(chromedp.CSS(`form.compose button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#buttonUrl-problem`)),
	))
	require.NoError(t, chromedp.Do(author, chromedp.ScrollIntoView(chromedp.CSS(`#buttonUrl-problem`))))
	screenshot(t, author, "compose")
	accessible(t, author, "compose with a problem")
	require.Contains(t, text(t, author, `#buttonUrl-problem`), "https://")
}
