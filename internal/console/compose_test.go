package console_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// postMultipart posts the form fields and, if csv is not empty, the file
// csv, as a browser's compose form does.
func (br *browser) postMultipart(path string, fields url.Values, csv string) (*http.Response, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k := range fields {
		require.NoError(br.t, mw.WriteField(k, fields.Get(k)))
	}
	if csv != "" {
		fw, err := mw.CreateFormFile("csv", "people.csv")
		require.NoError(br.t, err)
		_, _ = fw.Write([]byte(csv))
	}
	require.NoError(br.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, br.b.url+path, &buf)
	require.NoError(br.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := br.http.Do(req)
	require.NoError(br.t, err)
	return res, readBody(br.t, res)
}

func TestComposeCreatesThroughTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	author, viewer := b.browser(t), b.browser(t)
	readBody(t, author.signIn(1))
	readBody(t, viewer.signIn(4))
	res, page := author.get("/compose")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, page, `<label for="text">`)
	token := csrfOf(t, page)

	t.Run("the API's problems at their fields", func(t *testing.T) {
		res, page := author.postMultipart("/compose", url.Values{"csrf": {token}, "kind": {"template"}, "title": {"Hi {{nickname}}"},
			"buttonTitle": {"Open"}, "buttonUrl": {"javascript:alert(1)"}, "audience": {"users"}, "users": {""}}, "")
		require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
		for _, field := range []string{"title", "buttonUrl", "audience"} {
			require.Contains(t, page, `aria-describedby="`+field+`-problem"`, field)
			require.Contains(t, page, `id="`+field+`-problem"`, field)
		}
		require.Contains(t, page, "unknown placeholder {{nickname}}")
		require.Contains(t, page, `value="javascript:alert(1)"`, "what was typed is kept")
	})
	t.Run("no CSRF token, nothing made", func(t *testing.T) {
		res, _ := author.postMultipart("/compose", url.Values{"kind": {"text"}, "text": {"x"}, "audience": {"all"}}, "")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})
	t.Run("a viewer may not", func(t *testing.T) {
		_, vpage := viewer.get("/compose")
		require.Contains(t, vpage, "may not create broadcasts")
		res, _ := viewer.postMultipart("/compose", url.Values{"csrf": {csrfOf(t, vpage)}, "kind": {"text"}, "text": {"x"}, "audience": {"all"}}, "")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
	})

	users := b.e.Users()
	t.Run("text to listed users", func(t *testing.T) {
		res, page := author.postMultipart("/compose", url.Values{"csrf": {token}, "kind": {"text"}, "text": {"Hello {{givenName}}"},
			"audience": {"users"}, "users": {users[0].UPN + "\n" + users[1].ID}}, "")
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		id := strings.TrimPrefix(res.Request.URL.Path, "/broadcasts/")
		got := b.e.WaitFor(id, time.Minute, "resolved", func(x *broadcast.Broadcast) bool { return x.AudienceSize != nil })
		require.Equal(t, int64(2), *got.AudienceSize)
		require.Equal(t, b.accounts[1].UPN, got.CreatedBy)
		entries, _, err := b.e.Store.Audit(t.Context(), store.AuditFilter{BroadcastID: id, Limit: 5})
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, api.ActionCreate, entries[0].Action)
		require.Equal(t, b.accounts[1].UPN, entries[0].Actor)
	})
	t.Run("a CSV upload", func(t *testing.T) {
		res, page := author.postMultipart("/compose", url.Values{"csrf": {token}, "kind": {"text"}, "text": {"Benefits"},
			"audience": {"csv"}}, "userId\n"+users[2].ID+"\n"+users[3].ID+"\n"+users[4].UPN+"\n")
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		id := strings.TrimPrefix(res.Request.URL.Path, "/broadcasts/")
		got := b.e.WaitFor(id, time.Minute, "resolved", func(x *broadcast.Broadcast) bool { return x.AudienceSize != nil })
		require.Equal(t, int64(3), *got.AudienceSize)
	})
	t.Run("scheduled, to all users", func(t *testing.T) {
		at := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
		res, page := author.postMultipart("/compose", url.Values{"csrf": {token}, "kind": {"template"}, "title": {"Benefits"},
			"summary": {"Enrol by **Friday**"}, "buttonTitle": {"Enrol"}, "buttonUrl": {"https://hr.example/enrol"},
			"audience": {"all"}, "sendAt": {at}}, "")
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		got, err := b.e.Store.Broadcast(t.Context(), strings.TrimPrefix(res.Request.URL.Path, "/broadcasts/"))
		require.NoError(t, err)
		require.Equal(t, broadcast.StatusScheduled, got.Status)
		require.Equal(t, at+":00Z", got.SendAt.UTC().Format("2006-01-02T15:04:05Z"))
	})
	t.Run("a CSV that is not one", func(t *testing.T) {
		res, page := author.postMultipart("/compose", url.Values{"csrf": {token}, "kind": {"text"}, "text": {"x"}, "audience": {"csv"}},
			"not a user\n")
		require.Equal(t, http.StatusBadRequest, res.StatusCode, page)
		require.Contains(t, page, `id="csv-problem"`)
	})
}

// The live preview's answers: the card and budget as the senders render
// them, personalised from the directory cache, problems by form field.
func TestComposeLiveAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	author := b.browser(t)
	readBody(t, author.signIn(1))
	_, page := author.get("/compose")
	token := csrfOf(t, page)
	var ps []broadcast.Profile
	for _, u := range b.e.Users() {
		ps = append(ps, broadcast.Profile{ID: u.ID, DisplayName: u.DisplayName, GivenName: u.GivenName, UserPrincipalName: u.UPN})
	}
	require.NoError(t, b.e.Store.SaveDirectory(t.Context(), b.e.Tenant, ps, nil, false))
	require.NoError(t, b.e.Store.FinishSync(t.Context(), b.e.Tenant, "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x"))

	type answer struct {
		Card            json.RawMessage
		Text            string
		Units, MaxUnits int
		As              string
		Problems        map[string]string
		Size            *broadcast.AudienceSize
	}
	ask := func(path string, form url.Values) answer {
		t.Helper()
		form.Set("csrf", token)
		res, body := author.post(path, form)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		var a answer
		require.NoError(t, json.Unmarshal([]byte(body), &a), body)
		return a
	}
	me := b.accounts[1]

	a := ask("/compose/render", url.Values{"kind": {"text"}, "text": {"Hello {{givenName}}"}, "previewAs": {me.UPN}})
	require.Empty(t, a.Problems)
	require.Nil(t, a.Card)
	var given string
	for _, p := range ps {
		if p.ID == me.ID {
			given = p.GivenName
		}
	}
	require.Equal(t, "Hello "+given, a.Text)
	require.Equal(t, me.DisplayName, a.As)
	require.Positive(t, a.Units)
	require.Equal(t, 80*1024, a.MaxUnits)

	quiet := ask("/compose/render", url.Values{"kind": {"text"}, "text": {"Hello {{givenName}}"}, "previewAs": {me.UPN}, "silent": {"1"}})
	require.Less(t, quiet.Units, a.Units, "no activity-feed notification: no channelData")

	card := `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi {{displayName}}"}]}`
	a = ask("/compose/render", url.Values{"kind": {"card"}, "card": {card}, "previewAs": {me.ID}})
	require.Empty(t, a.Problems)
	require.Contains(t, string(a.Card), "Hi "+me.DisplayName)

	a = ask("/compose/render", url.Values{"kind": {"card"}, "card": {`{"type":"AdaptiveCard"`}})
	require.Contains(t, a.Problems["card"], "not valid JSON")
	a = ask("/compose/render", url.Values{"kind": {"card"}, "card": {`{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Carousel"}]}`}})
	require.Contains(t, a.Problems["card"], "Carousel")
	a = ask("/compose/render", url.Values{"kind": {"template"}, "title": {"Hi"}, "acknowledge": {"1"}, "ackTitle": {""}})
	require.Contains(t, a.Problems["ackTitle"], "required")
	a = ask("/compose/render", url.Values{"kind": {"template"}, "title": {"Hi"}, "previewAs": {"nobody@contoso.com"}})
	require.Contains(t, a.Problems["previewAs"], "no such user")
	require.Contains(t, string(a.Card), `"text":"Hi"`, "previewed all the same, its placeholders as they are")
	a = ask("/compose/render", url.Values{"kind": {"text"}, "text": {strings.Repeat("x", 81*1024)}})
	require.Greater(t, a.Units, a.MaxUnits)
	require.Contains(t, a.Problems["text"], "80 KB")

	a = ask("/compose/size", url.Values{"audience": {"all"}, "excludeUsers": {me.UPN}})
	require.Equal(t, &broadcast.AudienceSize{Size: int64(len(ps) - 1), Exact: true, DirectorySyncedAt: a.Size.DirectorySyncedAt}, a.Size)
	a = ask("/compose/size", url.Values{"audience": {"groups"}, "groups": {"Sales (not an id)"}})
	require.Contains(t, a.Problems["groups"], "GUID")
	a = ask("/compose/size", url.Values{"audience": {"users"}, "users": {me.ID + "\n" + b.accounts[2].UPN}, "excludeGroups": {"Sales (00000000-0000-4000-8000-0000000000aa)"}})
	require.Equal(t, &broadcast.AudienceSize{Size: 2, UncountedGroups: 1}, a.Size)
}

// The preview's renderer, its Teams host configs and markdown-it are the
// pinned builds VERSION names, served from the console itself.
func TestComposeAssetsArePinned(t *testing.T) {
	t.Parallel()
	b := setup(t, pipelinetest.Options{NoWorkers: true})
	br := b.browser(t)
	for _, f := range []struct{ dir, file, licence string }{
		{"adaptivecards", "adaptivecards.min.js", "Microsoft"},
		{"adaptivecards", "microsoft-teams-light.json", ""},
		{"adaptivecards", "microsoft-teams-dark.json", ""},
		{"markdown-it", "markdown-it.min.js", "Vitaly Puzrin"},
	} {
		res, body := br.get("/static/vendor/" + f.dir + "/" + f.file)
		require.Equal(t, http.StatusOK, res.StatusCode, f.file)
		version, err := os.ReadFile("static/vendor/" + f.dir + "/VERSION")
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(body))
		require.Contains(t, string(version), hex.EncodeToString(sum[:])+"  "+f.file, "%s is the pinned build", f.file)
		if f.licence != "" {
			res, lic := br.get("/static/vendor/" + f.dir + "/LICENSE")
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Contains(t, lic, f.licence)
		}
	}
}
