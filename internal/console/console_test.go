package console_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/console"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// bundle is a pipeline, its simulator as the identity provider, and the
// console served over http.
type bundle struct {
	e   *pipelinetest.Env
	c   *console.Console
	url string
	// accounts the simulator offers: admin, author, author, approver,
	// viewer, none (teamsim.IdPAccounts).
	accounts []teamsim.IdPAccount
}

func setup(t *testing.T, o pipelinetest.Options) *bundle {
	t.Helper()
	if o.Sim.UsersPerTenant == 0 {
		o.Sim = teamsim.Config{UsersPerTenant: 8, InstalledFraction: 1}
	}
	e := pipelinetest.Start(t, o)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	c, err := console.New(console.Config{PublicURL: base, Issuer: teamsim.IdPIssuer(e.SimURL, e.Tenant),
		ClientID: pipelinetest.BotAppID, ClientSecret: pipelinetest.BotPassword, InsecureCookies: true,
		Tenant: e.Tenant, LiveInterval: 50 * time.Millisecond}, e.Server, e.Store, e.Log.Named("console"))
	require.NoError(t, err)
	srv.Config.Handler = c
	srv.Start()
	t.Cleanup(func() { c.Close(); srv.Close() })
	b := &bundle{e: e, c: c, url: base, accounts: e.Sim.IdPAccounts(e.Tenant)}
	require.Len(t, b.accounts, 6)
	return b
}

// browser is a cookie-keeping client, as a person's browser.
type browser struct {
	t    *testing.T
	b    *bundle
	http *http.Client
}

func (b *bundle) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, b: b, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// signIn signs in as account i, through the simulator's authorize page:
// the page is read, and the form of that account submitted.
func (br *browser) signIn(i int) *http.Response { return br.signInVia("/broadcasts", i) }

// signInVia starts at path, which sends the browser to the identity provider.
func (br *browser) signInVia(path string, i int) *http.Response {
	t := br.t
	res, err := br.http.Get(br.b.url + path)
	require.NoError(t, err)
	page := readBody(t, res)
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, "Pick an account", "the console sent the browser to the identity provider")
	authorize := res.Request.URL
	q := authorize.Query()
	require.Equal(t, "S256", q.Get("code_challenge_method"), "PKCE")
	require.NotEmpty(t, q.Get("nonce"))
	form := url.Values{"upn": {br.b.accounts[i].UPN}}
	for k := range q {
		form.Set(k, q.Get(k))
	}
	res, err = br.http.PostForm(authorize.String(), form)
	require.NoError(t, err)
	return res
}

func (br *browser) get(path string) (*http.Response, string) {
	res, err := br.http.Get(br.b.url + path)
	require.NoError(br.t, err)
	return res, readBody(br.t, res)
}

func (br *browser) post(path string, form url.Values) (*http.Response, string) {
	req, err := http.NewRequest(http.MethodPost, br.b.url+path, strings.NewReader(form.Encode()))
	require.NoError(br.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", br.b.url)
	res, err := br.http.Do(req)
	require.NoError(br.t, err)
	return res, readBody(br.t, res)
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has a CSRF field")
	return m[1]
}

func TestSignInThroughTheSimulator(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	br := b.browser(t)
	res := br.signIn(0)
	page := readBody(t, res)
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Equal(t, "/broadcasts", res.Request.URL.Path, "back where the person started")
	require.Contains(t, page, `data-testid="role">admin<`)
	require.Contains(t, page, b.accounts[0].DisplayName)
	require.Contains(t, page, `href="/audit"`, "an admin sees the audit log")

	u, _ := url.Parse(b.url)
	var session *http.Cookie
	for _, ck := range br.http.Jar.Cookies(u) {
		if ck.Name == "console_session" {
			session = ck
		}
	}
	require.NotNil(t, session, "a session cookie")

	// Signing in again replaces the session: the old one ends.
	res = br.signInVia("/signin", 1)
	page = readBody(t, res)
	require.Contains(t, page, `data-testid="role">author<`)
	oldSession := func(value string) int {
		req, _ := http.NewRequest(http.MethodGet, b.url+"/broadcasts", nil)
		req.AddCookie(&http.Cookie{Name: "console_session", Value: value})
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusFound, oldSession(session.Value), "the first session ended")
	for _, ck := range br.http.Jar.Cookies(u) {
		if ck.Name == "console_session" {
			session = ck
		}
	}
	require.Equal(t, http.StatusOK, oldSession(session.Value))

	// Sign-out needs the CSRF token, then ends the session for good.
	res, _ = br.post("/signout", url.Values{})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	res, page = br.post("/signout", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, page, "You are signed out")
	// The cookie, replayed, is no session any more.
	require.Equal(t, http.StatusFound, oldSession(session.Value))
}

func TestSignInRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})

	t.Run("a user without a console role", func(t *testing.T) {
		res := b.browser(t).signIn(5)
		page := readBody(t, res)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Contains(t, page, "has no role in this console")
	})
	t.Run("a callback this browser did not start", func(t *testing.T) {
		br := b.browser(t)
		res, page := br.get(console.CallbackPath + "?code=x&state=forged")
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Contains(t, page, "not started in this browser")
	})
	t.Run("the identity provider's error", func(t *testing.T) {
		res, page := b.browser(t).get(console.CallbackPath + "?error=access_denied&error_description=no")
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Contains(t, page, "access_denied")
	})
	t.Run("a sign-in never returns elsewhere", func(t *testing.T) {
		br := b.browser(t)
		br.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, _ := br.get("/signin?next=" + url.QueryEscape("//evil.example/x"))
		require.Equal(t, http.StatusFound, res.StatusCode)
		br.http.CheckRedirect = nil
		authorize, err := url.Parse(res.Header.Get("Location"))
		require.NoError(t, err)
		form := url.Values{"upn": {b.accounts[4].UPN}}
		for k := range authorize.Query() {
			form.Set(k, authorize.Query().Get(k))
		}
		res, err = br.http.PostForm(authorize.String(), form)
		require.NoError(t, err)
		readBody(t, res)
		require.Equal(t, b.url+"/broadcasts", res.Request.URL.String())
	})
}

func TestCookiesAreSecureUnlessADemoSaysOtherwise(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2}, NoWorkers: true})
	cfg := console.Config{PublicURL: "https://console.example", Issuer: teamsim.IdPIssuer(e.SimURL, e.Tenant),
		ClientID: pipelinetest.BotAppID, ClientSecret: pipelinetest.BotPassword, Tenant: e.Tenant}
	c, err := console.New(cfg, e.Server, e.Store, e.Log)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/signin", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	cks := rec.Result().Cookies()
	require.Len(t, cks, 1)
	require.Equal(t, "__Host-console_login", cks[0].Name)
	require.True(t, cks[0].Secure)
	require.True(t, cks[0].HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, cks[0].SameSite)

	cfg.PublicURL = "http://console.example"
	_, err = console.New(cfg, e.Server, e.Store, e.Log)
	require.ErrorContains(t, err, "CONSOLE_INSECURE_COOKIES")
}

// create makes a broadcast as user upn, to the tenant's first n users.
func (b *bundle) create(t *testing.T, upn string, n int) *broadcast.Broadcast {
	var ids []string
	for _, u := range b.e.Users()[:n] {
		ids = append(ids, u.ID)
	}
	return b.e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Town hall at 10"},
		Audience: broadcast.Audience{UserIDs: ids}, CreatedBy: upn})
}

func TestCancelFollowsTheAPIsRulesAndIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	owner, other, admin, viewer := b.browser(t), b.browser(t), b.browser(t), b.browser(t)
	readBody(t, owner.signIn(1))
	readBody(t, other.signIn(2))
	readBody(t, admin.signIn(0))
	readBody(t, viewer.signIn(4))
	bc := b.create(t, b.accounts[1].UPN, 6)
	b.e.WaitStatus(bc.ID, broadcast.StatusSending, time.Minute) // no workers: every recipient waits

	res, page := owner.get("/broadcasts/" + bc.ID)
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, `href="/broadcasts/`+bc.ID+`/cancel"`, "the author may cancel their broadcast")
	require.Contains(t, page, `id="live-total">6<`)
	_, page = other.get("/broadcasts/" + bc.ID)
	require.NotContains(t, page, "/cancel\"", "another author may not")
	_, page = viewer.get("/broadcasts/" + bc.ID)
	require.NotContains(t, page, "/cancel\"")

	// Another author's cancel, form and all, is the API's 403.
	_, confirm := other.get("/broadcasts")
	res, page = other.post("/broadcasts/"+bc.ID+"/cancel", url.Values{"csrf": {csrfOf(t, confirm)}})
	require.Equal(t, http.StatusForbidden, res.StatusCode, page)
	require.Contains(t, page, "may act only on the broadcasts its key created")

	res, confirm = owner.get("/broadcasts/" + bc.ID + "/cancel")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, confirm, `data-testid="affected">6<`, "the confirmation says whom it affects")

	// Without the CSRF token, or with another session's, nothing happens.
	res, _ = owner.post("/broadcasts/"+bc.ID+"/cancel", url.Values{})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	_, otherPage := other.get("/broadcasts")
	res, _ = owner.post("/broadcasts/"+bc.ID+"/cancel", url.Values{"csrf": {csrfOf(t, otherPage)}})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	got, err := b.e.Store.Broadcast(t.Context(), bc.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusSending, got.Status)

	res, page = owner.post("/broadcasts/"+bc.ID+"/cancel", url.Values{"csrf": {csrfOf(t, confirm)}})
	require.Equal(t, http.StatusOK, res.StatusCode, page)
	require.Contains(t, page, "The broadcast is canceled")
	b.e.WaitFor(bc.ID, time.Minute, "canceled", func(x *broadcast.Broadcast) bool { return x.CanceledAt != nil })

	// The audit log has both calls, as the API records them, with the
	// person as the actor; a viewer may not read it.
	res, _ = viewer.get("/audit")
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	entries, _, err := b.e.Store.Audit(t.Context(), store.AuditFilter{BroadcastID: bc.ID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, b.accounts[1].UPN, entries[0].Actor)
	require.Equal(t, api.ActionCancel, entries[0].Action)
	require.Equal(t, http.StatusAccepted, entries[0].Status)
	require.Equal(t, b.accounts[2].UPN, entries[1].Actor)
	require.Equal(t, http.StatusForbidden, entries[1].Status)
	res, page = admin.get("/audit?broadcastId=" + bc.ID)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, page, b.accounts[1].UPN)
	require.Contains(t, page, api.ActionCancel)
}

func TestPagesListFilterAndExport(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 8, InstalledFraction: 1, BlockedFraction: 0.3, Seed: 3}})
	br := b.browser(t)
	readBody(t, br.signIn(4)) // a viewer reads everything
	bc := b.create(t, b.accounts[1].UPN, 8)
	done := b.e.WaitCompleted(bc.ID, 2*time.Minute)

	res, page := br.get("/broadcasts?status=completed")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, page, "/broadcasts/"+bc.ID)
	res, page = br.get("/broadcasts?status=bogus")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, page, `aria-invalid="true"`, "the API's problem is shown at its field")
	require.Contains(t, page, "must be one of")

	res, page = br.get("/broadcasts/" + bc.ID + "?state=sent")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, int(done.Counts.Sent), strings.Count(page, "<td>sent</td>"))
	res, page = br.get("/broadcasts/" + bc.ID + "?state=nope")
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, page, `id="state-problem"`)

	res, csv := br.get("/broadcasts/" + bc.ID + "/export")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/csv")
	require.Equal(t, 8+1, strings.Count(strings.TrimSpace(csv), "\n")+1, csv)

	res, page = br.get("/unreachable")
	require.Equal(t, http.StatusOK, res.StatusCode)
	if done.Counts.Blocked > 0 {
		require.Contains(t, page, "blocked_by_user")
	}
	res, page = br.get("/broadcasts/00000000-0000-0000-0000-000000000000")
	require.Equal(t, http.StatusNotFound, res.StatusCode, page)
	res, _ = br.get("/audit")
	require.Equal(t, http.StatusForbidden, res.StatusCode, "the audit log is the admins'")
}

// events reads server-sent events from r until it has n or the stream ends.
func events(t *testing.T, r io.Reader, n int) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() && len(out) < n {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out = append(out, ev)
		}
	}
	return out
}

func TestLiveProgressSharesOnePollerPerBroadcast(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	one, two := b.browser(t), b.browser(t)
	readBody(t, one.signIn(4))
	readBody(t, two.signIn(0))
	bc := b.create(t, b.accounts[1].UPN, 3)

	var streams []*http.Response
	for _, br := range []*browser{one, two, one} {
		res, err := br.http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
		require.NoError(t, err)
		require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
		streams = append(streams, res)
	}
	for _, s := range streams {
		require.Equal(t, []string{"progress", "progress"}, events(t, s.Body, 2))
	}
	require.Equal(t, 1, b.c.Watching(), "three watchers, one poller")
	for _, s := range streams {
		s.Body.Close()
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return b.c.Watching() == 0 }, "the last watcher to leave stops the poller")
	reads := b.c.Reads()
	require.Positive(t, reads)
}

func TestLiveProgressEndsWithTheBroadcast(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{})
	br := b.browser(t)
	readBody(t, br.signIn(4))
	bc := b.create(t, b.accounts[1].UPN, 5)
	res, err := br.http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
	require.NoError(t, err)
	defer res.Body.Close()
	evs := events(t, res.Body, 1000)
	require.Equal(t, "done", evs[len(evs)-1], "the stream ends once the broadcast has")
	b.e.WaitCompleted(bc.ID, time.Minute)

	// Someone who may not read the broadcast gets no feed.
	res, err = b.browser(t).http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
	require.NoError(t, err)
	readBody(t, res)
	require.Contains(t, res.Request.URL.Path, "/oauth2/v2.0/authorize", "signed out: sent to sign in")
}

func TestStaticAssetsAreEmbeddedAndPinned(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true, Sim: teamsim.Config{UsersPerTenant: 6}})
	br := b.browser(t)
	res, js := br.get("/static/vendor/htmx/htmx.min.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	version, err := os.ReadFile("static/vendor/htmx/VERSION")
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(js))
	require.Contains(t, string(version), hex.EncodeToString(sum[:]), "htmx is the pinned build")
	res, lic := br.get("/static/vendor/htmx/LICENSE")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, lic, "Zero-Clause BSD")
	res, _ = br.get("/static/console.css")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
}

func TestCloseEndsTheLiveStreams(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	br := b.browser(t)
	readBody(t, br.signIn(4))
	bc := b.create(t, b.accounts[1].UPN, 2)
	res, err := br.http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, []string{"progress"}, events(t, res.Body, 1))
	b.c.Close() // as the dispatcher does before its server's Shutdown
	_, err = io.Copy(io.Discard, res.Body)
	require.NoError(t, err, "the stream ends")
	require.Zero(t, b.c.Watching())
	res, err = br.http.Get(b.url + "/broadcasts/" + bc.ID + "/live")
	require.NoError(t, err)
	readBody(t, res)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "no new stream after Close")
}
