//go:build browser

package console_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// waitText waits until the element's text contains want, and returns it.
func waitText(t *testing.T, ctx context.Context, css, want string) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var e=document.querySelector(`+strconv.Quote(css)+`);return e?e.textContent:""})()`))
		require.NoError(t, err)
		if got = s; strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q never came; last %q", css, want, got)
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond)))
	}
}

// clear empties a field as a person would before typing anew.
func clear(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.getElementById("` + id + `").value = ""`)
}

// kb is the first number of the budget's text.
func kb(t *testing.T, s string) float64 {
	f, err := strconv.ParseFloat(strings.Fields(s)[0], 64)
	require.NoError(t, err, s)
	return f
}

func TestBrowserCompose(t *testing.T) {
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 1, Seed: 3}})
	// A broadcast to all users syncs the directory: profiles and group names.
	all := b.e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Welcome"}, Audience: broadcast.Audience{AllUsers: true}})
	b.e.WaitCompleted(all.ID, time.Minute)
	author := b.accounts[1]
	var given string
	for _, u := range b.e.Users() {
		if u.ID == author.ID {
			given = u.GivenName
		}
	}
	require.NotEmpty(t, given)

	ctx := newTab(t)
	b.signInAs(t, ctx, 1)

	// A template with a button: its preview is the card Teams shows,
	// personalised as the author, light then dark.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.url+"/compose"),
		chromedp.WaitVisible(chromedp.CSS(`#preview`)),
		chromedp.Click(chromedp.CSS(`#kind-template`)),
		chromedp.SendKeys(chromedp.CSS(`#title`), "Benefits enrolment, {{givenName}}"),
		chromedp.SendKeys(chromedp.CSS(`#summary`), "Enrol by **Friday**."),
		chromedp.SendKeys(chromedp.CSS(`#buttonTitle`), "Enrol"),
		chromedp.SendKeys(chromedp.CSS(`#buttonUrl`), "https://hr.example/enrol"),
		chromedp.Click(chromedp.CSS(`#acknowledge`)),
	))
	waitText(t, ctx, `#preview .ac-adaptiveCard`, "Benefits enrolment, "+given)
	waitText(t, ctx, `#preview .ac-actionSet`, "Got it")
	require.Equal(t, "Enrol", text(t, ctx, `#preview .ac-actionSet button`))
	bold, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#preview strong").textContent`))
	require.NoError(t, err)
	require.Equal(t, "Friday", bold, "markdown is rendered")
	lightBg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#preview .ac-adaptiveCard")).backgroundColor`))
	require.NoError(t, err)
	screenshot(t, ctx, "compose-preview-light")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#theme-dark`)), chromedp.WaitVisible(chromedp.CSS(`#preview[data-theme="dark"] .ac-adaptiveCard`))))
	darkBg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#preview .ac-adaptiveCard")).backgroundColor`))
	require.NoError(t, err)
	require.NotEqual(t, lightBg, darkBg, "the dark host config draws the card dark")
	waitText(t, ctx, `#preview .ac-adaptiveCard`, "Benefits enrolment, "+given)
	screenshot(t, ctx, "compose-preview-dark")

	// The budget follows the typing.
	before := kb(t, waitText(t, ctx, `#budget-text`, "KB of 80.0 KB"))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#summary`), strings.Repeat(" More details.", 400))))
	var after float64
	for deadline := time.Now().Add(30 * time.Second); ; {
		if after = kb(t, text(t, ctx, `#budget-text`)); after > before+4 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the budget grew from %.1f KB (now %.1f)", before, after)
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond)))
	}
	require.NoError(t, chromedp.Do(ctx, clear(`summary`), chromedp.SendKeys(chromedp.CSS(`#summary`), "Enrol by **Friday**.")))
	waitText(t, ctx, `#budget-text`, strconv.FormatFloat(before, 'f', 1, 64)+" KB of 80.0 KB")

	// The API's problem shows at its field as one types.
	require.NoError(t, chromedp.Do(ctx,
		clear(`buttonUrl`),
		chromedp.SendKeys(chromedp.CSS(`#buttonUrl`), "hr.example/enrol"),
	))
	require.Contains(t, waitText(t, ctx, `#buttonUrl-problem`, "https://"), "https://")
	invalid, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("buttonUrl").getAttribute("aria-invalid")`))
	require.NoError(t, err)
	require.Equal(t, "true", invalid)
	require.NoError(t, chromedp.Do(ctx,
		clear(`buttonUrl`),
		chromedp.SendKeys(chromedp.CSS(`#buttonUrl`), "https://hr.example/enrol"),
		chromedp.WaitNotPresent(chromedp.CSS(`#buttonUrl-problem`)),
	))

	// The audience: all users, less one excluded, counted from the cache.
	members, _, err := b.e.Store.DirectorySize(t.Context(), b.e.Tenant)
	require.NoError(t, err)
	waitText(t, ctx, `#audience-size`, "Audience: "+strconv.FormatInt(members, 10)+" recipients")
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#excludeUsers`), b.accounts[4].UPN)))
	waitText(t, ctx, `#audience-size`, "Audience: "+strconv.FormatInt(members-1, 10)+" recipients")

	// A group found by name, picked with the keyboard.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#group-search`), "sal"),
		chromedp.WaitVisible(chromedp.CSS(`#group-results button[aria-label="Include Sales"]`)),
		chromedp.KeyEvent("\t"),
	))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute("aria-label")`))
	require.NoError(t, err)
	require.Equal(t, "Include Sales", focused, "the result comes next in the tab order")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r")))
	groups, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#groups`)))
	require.NoError(t, err)
	var sales teamsim.Group
	for _, g := range b.e.Sim.Groups(b.e.Tenant) {
		if g.DisplayName == "Sales" {
			sales = g
		}
	}
	require.Equal(t, "Sales ("+sales.ID+")", groups)
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("aud-groups").checked`))
	require.NoError(t, err)
	require.True(t, checked)
	salesMembers, err := b.e.Sim.GroupMembers(b.e.Tenant, sales.ID)
	require.NoError(t, err)
	waitText(t, ctx, `#audience-size`, "Audience, an estimate: up to "+strconv.Itoa(len(salesMembers))+" members of 1 group (as Microsoft Graph counts them")
	require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(`#group-search`))))
	screenshot(t, ctx, "compose-audience")
	accessible(t, ctx, "compose with its preview")

	// A preview to the author reaches the simulator.
	delivered := len(b.e.Sim.UserDeliveries(b.e.Tenant, author.ID))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#preview-to-me`)),
		chromedp.WaitVisible(chromedp.CSS(`#compose-notice`)),
	))
	title, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#title`)))
	require.NoError(t, err)
	require.Equal(t, "Benefits enrolment, {{givenName}}", title, "the form stays as it was")
	for deadline := time.Now().Add(time.Minute); len(b.e.Sim.UserDeliveries(b.e.Tenant, author.ID)) == delivered; {
		require.True(t, time.Now().Before(deadline), "the preview reached the author in Teams")
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond)))
	}

	// Sent: the broadcast goes to the group, less the exclusion.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.compose button[type="submit"]:not([formaction])`)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
	))
	url, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	got, err := b.e.Store.Broadcast(t.Context(), url[strings.LastIndex(url, "/")+1:])
	require.NoError(t, err)
	require.Equal(t, []string{strings.ToLower(sales.ID)}, got.Audience.GroupIDs)
	excluded, err := b.e.Store.AudienceInput(t.Context(), got.ID, store.InputExcludeUPNs, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{strings.ToLower(b.accounts[4].UPN)}, excluded)
	require.NotNil(t, got.Message.Template.Acknowledge)
}
