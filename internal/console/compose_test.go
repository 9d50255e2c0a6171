package console_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
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
