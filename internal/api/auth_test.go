package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// authBundle is an API with one key per role, two authors among them;
// names are the test's own (the audit log is shared by parallel tests).
type authBundle struct {
	e                          *pipelinetest.Env
	srv                        *api.Server
	keys                       testKeys
	admin, author, other, view string
	approver                   string
}

func setupAuth(t *testing.T) *authBundle {
	t.Helper()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 4, InstalledFraction: 1}, NoWorkers: true})
	sfx := e.Tenant[:8]
	b := &authBundle{e: e, admin: "ops-" + sfx, author: "hr-" + sfx, other: "comms-" + sfx, view: "reader-" + sfx, approver: "legal-" + sfx}
	b.keys = newKeys(t, b.admin, auth.Admin, b.author, auth.Author, b.other, auth.Author, b.view, auth.Viewer, b.approver, auth.Approver)
	b.srv = api.New(e.Dispatcher, e.Queue, e.Store, api.Auth{Keys: b.keys.set}, e.Log.Named("api"))
	return b
}

// call makes a request as key name ("" for none), with an optional JSON body.
func (b *authBundle) call(t *testing.T, name, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if name != "" {
		req.Header.Set("Authorization", "Bearer "+b.keys.token[name])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	return rec
}

func (b *authBundle) create(t *testing.T, name string) *broadcast.Broadcast {
	t.Helper()
	rec := b.call(t, name, http.MethodPost, "/v1/broadcasts", `{"message":{"text":"hi"},"audience":{"userIds":["`+b.e.Users()[0].ID+`"]},"sendAt":"`+later()+`"}`)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var out broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	return &out
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var eb errorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb), rec.Body.String())
	return eb
}

// bodyFor is a request body each route accepts (or at least decodes).
func (b *authBundle) bodyFor(pattern string) string {
	to := b.e.Users()[1].UPN
	switch pattern {
	case "POST /v1/broadcasts":
		return `{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":"` + later() + `"}`
	case "POST /v1/previews":
		return `{"message":{"text":"draft"},"to":"` + to + `"}`
	case "POST /v1/broadcasts/{id}/preview":
		return `{"to":"` + to + `"}`
	case "POST /v1/broadcasts/{id}/edit":
		return `{"message":{"text":"edited"}}`
	case "POST /v1/broadcasts/{id}/replay", "POST /v1/broadcasts/{id}/recall", "POST /v1/broadcasts/{id}/approve":
		return `{}`
	case "POST /v1/broadcasts/{id}/reject":
		return `{"comment":"not now"}`
	}
	return ""
}

// Every route the server registers answers 401 without a key, with a
// wrong key and with a malformed header; 403 to each role below the one
// it needs; and lets that role (and admin) through.
func TestEveryRouteNeedsTheRightKey(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	routes := b.srv.Routes()
	require.Len(t, routes, len(api.PolicyPatterns()), "every route of the policy table is registered")
	roleKey := map[auth.Role]string{auth.Viewer: b.view, auth.Author: b.author, auth.Approver: b.approver, auth.Admin: b.admin}
	for _, pattern := range routes {
		t.Run(pattern, func(t *testing.T) {
			// A broadcast of the author's own per route: cancels and
			// previews act on it.
			own := b.create(t, b.author)
			method, path, _ := strings.Cut(pattern, " ")
			path = strings.NewReplacer("{id}", own.ID, "{tenant}", b.e.Tenant).Replace(path)
			body := b.bodyFor(pattern)
			least, owned, ok := api.Policy(pattern)
			require.True(t, ok)
			if least == 0 { // public: health
				rec := b.call(t, "", method, path, body)
				require.Equal(t, http.StatusOK, rec.Code)
				require.JSONEq(t, `{"status":"ok"}`, rec.Body.String(), "health reveals nothing")
				return
			}
			for _, c := range []struct{ name, header string }{
				{"no key", ""}, {"wrong key", "Bearer bk_not-a-configured-key"}, {"malformed", "Basic " + b.keys.token[b.admin]},
				{"empty bearer", "Bearer "}, {"hash as key", "Bearer " + strings.Split(mustLine(t, b, b.admin), " ")[2]},
			} {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				rec := httptest.NewRecorder()
				b.srv.ServeHTTP(rec, req)
				require.Equal(t, http.StatusUnauthorized, rec.Code, "%s: %s", c.name, rec.Body.String())
				require.Equal(t, `Bearer realm="broadcast"`, rec.Header().Get("WWW-Authenticate"))
				eb := errorOf(t, rec)
				require.Equal(t, "unauthorized", eb.Error.Code)
				require.Regexp(t, "missing API key|invalid API key|malformed Authorization", eb.Error.Message)
				for _, tok := range b.keys.token {
					require.NotContains(t, rec.Body.String(), tok[3:], "a 401 never echoes a key")
				}
				require.NotContains(t, rec.Body.String(), "not-a-configured-key")
			}
			for _, r := range auth.Roles {
				if r >= least {
					continue
				}
				rec := b.call(t, roleKey[r], method, path, body)
				require.Equal(t, http.StatusForbidden, rec.Code, "%s as %s: %s", pattern, r, rec.Body.String())
				eb := errorOf(t, rec)
				require.Equal(t, "forbidden", eb.Error.Code)
				require.Contains(t, eb.Error.Message, "needs the role "+least.String())
			}
			if owned {
				rec := b.call(t, b.other, method, path, body)
				require.Equal(t, http.StatusForbidden, rec.Code, "another author: %s", rec.Body.String())
				require.Contains(t, errorOf(t, rec).Error.Message, "only on the broadcasts its key created")
			}
			for _, r := range auth.Roles {
				if r < least {
					continue
				}
				if owned && r > least && r < auth.Admin {
					// An approver is an author: not of this broadcast.
					rec := b.call(t, roleKey[r], method, path, body)
					require.Equal(t, http.StatusForbidden, rec.Code, "%s as %s: %s", pattern, r, rec.Body.String())
					require.Contains(t, errorOf(t, rec).Error.Message, "only on the broadcasts its key created")
					continue
				}
				rec := b.call(t, roleKey[r], method, path, body)
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code, "%s as %s: %s", pattern, r, rec.Body.String())
				require.Less(t, rec.Code, 500, "%s as %s: %s", pattern, r, rec.Body.String())
			}
		})
	}
}

func mustLine(t *testing.T, b *authBundle, name string) string {
	t.Helper()
	// The configured line of a key: the hash alone is not a key.
	k := auth.Key{Name: name, Role: auth.Admin, Hash: auth.Hash(b.keys.token[name])}
	return k.Line()
}

// A broadcast records the key that created it; an author previews and
// cancels its own, not another's; an admin acts on anyone's.
func TestAuthorsActOnTheirOwnBroadcasts(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	mine := b.create(t, b.author)
	require.Equal(t, b.author, mine.CreatedBy)
	rec := b.call(t, b.view, http.MethodGet, "/v1/broadcasts/"+mine.ID, "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"createdBy": "`+b.author+`"`)

	// A body cannot claim another author.
	rec = b.call(t, b.other, http.MethodPost, "/v1/broadcasts", `{"message":{"text":"hi"},"audience":{"allUsers":true},"createdBy":"`+b.author+`"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, rec.Body.String(), "createdBy")

	to := `{"to":"` + b.e.Users()[2].UPN + `"}`
	rec = b.call(t, b.other, http.MethodPost, "/v1/broadcasts/"+mine.ID+"/preview", to)
	require.Equal(t, http.StatusForbidden, rec.Code)
	rec = b.call(t, b.other, http.MethodPost, "/v1/broadcasts/"+mine.ID+"/cancel", "")
	require.Equal(t, http.StatusForbidden, rec.Code)

	rec = b.call(t, b.author, http.MethodPost, "/v1/broadcasts/"+mine.ID+"/preview", to)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var p broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, b.author, p.CreatedBy, "a preview is its asker's")

	// Another author's unknown broadcast is a 404, not a 403.
	rec = b.call(t, b.other, http.MethodPost, "/v1/broadcasts/0190c6d2-0000-7000-8000-000000000000/cancel", "")
	require.Equal(t, http.StatusNotFound, rec.Code)

	rec = b.call(t, b.author, http.MethodPost, "/v1/broadcasts/"+mine.ID+"/cancel", "")
	require.Equal(t, http.StatusOK, rec.Code, "a scheduled broadcast is canceled at once: %s", rec.Body.String())

	theirs := b.create(t, b.other)
	rec = b.call(t, b.admin, http.MethodPost, "/v1/broadcasts/"+theirs.ID+"/cancel", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

// listAudit reads the audit entries of the filter q as the admin, limit a
// page, following the cursors until it has want entries, and then one
// page more (which must add none). It does not walk the whole log: the
// Redis of the tests keeps the entries of earlier runs, and the entries
// a test looks for are among the newest.
func (b *authBundle) listAudit(t *testing.T, q string, limit, want int) []broadcast.AuditEntry {
	t.Helper()
	var all []broadcast.AuditEntry
	cursor := ""
	extra := false
	for range 1000 {
		rec := b.call(t, b.admin, http.MethodGet, fmt.Sprintf("/v1/audit?%s&limit=%d&cursor=%s", q, limit, cursor), "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page api.AuditPage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		require.LessOrEqual(t, len(page.Entries), limit)
		all = append(all, page.Entries...)
		if page.NextCursor == "" || extra {
			return all
		}
		extra = len(all) >= want
		cursor = page.NextCursor
	}
	t.Fatal("the audit log pages do not end")
	return nil
}

// Every state-changing call, refused ones with a key included, is in the
// audit log with its actor, role, action, broadcast, tenant and status;
// never a message or a key.
func TestAuditRecordsEveryStateChange(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	start := time.Now().Add(-time.Second)
	bc := b.create(t, b.author)
	to := `{"to":"` + b.e.Users()[1].UPN + `"}`
	steps := []struct {
		name, path, body string
		status           int
		action           string
	}{
		{b.author, "/v1/broadcasts/" + bc.ID + "/preview", to, http.StatusAccepted, api.ActionPreview},
		{b.other, "/v1/broadcasts/" + bc.ID + "/cancel", "", http.StatusForbidden, api.ActionCancel},
		{b.author, "/v1/broadcasts/" + bc.ID + "/edit", `{"message":{"text":"secret plans"}}`, http.StatusForbidden, api.ActionEdit},
		{b.admin, "/v1/broadcasts/" + bc.ID + "/edit", `{"message":{"text":"secret plans"}}`, 0, api.ActionEdit},
		{b.admin, "/v1/broadcasts/" + bc.ID + "/replay", `{}`, 0, api.ActionReplay},
		{b.admin, "/v1/broadcasts/" + bc.ID + "/recall", `{}`, 0, api.ActionRecall},
		{b.author, "/v1/broadcasts/" + bc.ID + "/cancel", "", 0, api.ActionCancel},
	}
	want := []broadcast.AuditEntry{{Actor: b.author, Role: "author", Action: api.ActionCreate, Status: http.StatusAccepted}}
	for i, s := range steps {
		rec := b.call(t, s.name, http.MethodPost, s.path, s.body, api.RequestIDHeader, fmt.Sprintf("req-%d", i))
		if s.status != 0 {
			require.Equal(t, s.status, rec.Code, "%s %s: %s", s.name, s.path, rec.Body.String())
		}
		role := map[string]string{b.admin: "admin", b.author: "author", b.other: "author"}[s.name]
		want = append(want, broadcast.AuditEntry{Actor: s.name, Role: role, Action: s.action, Status: rec.Code, RequestID: fmt.Sprintf("req-%d", i)})
	}
	got := b.listAudit(t, "broadcastId="+bc.ID, 3, len(want))
	slices.Reverse(got) // newest first
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, w.Actor, g.Actor, i)
		require.Equal(t, w.Role, g.Role, i)
		require.Equal(t, w.Action, g.Action, i)
		require.Equal(t, w.Status, g.Status, i)
		require.Equal(t, w.RequestID, g.RequestID, i)
		require.Equal(t, bc.ID, g.BroadcastID, i)
		require.WithinRange(t, g.Time, start, time.Now().Add(time.Second))
		require.NotEmpty(t, g.ID)
	}
	for i := range got {
		if got[i].Status != http.StatusForbidden || got[i].Action != api.ActionEdit {
			require.Equal(t, b.e.Tenant, got[i].TenantID, i)
		}
	}

	// A draft's preview names the preview it made.
	rec := b.call(t, b.other, http.MethodPost, "/v1/previews", `{"message":{"text":"draft"},"to":"`+b.e.Users()[0].UPN+`"}`)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var p broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	drafts := b.listAudit(t, "actor="+b.other, 100, 2)
	require.Equal(t, api.ActionDraftPreview, drafts[0].Action)
	require.Equal(t, p.ID, drafts[0].BroadcastID)
	require.Equal(t, b.e.Tenant, drafts[0].TenantID)

	// A viewer's refused create is recorded (it names an actor); reads are not.
	rec = b.call(t, b.view, http.MethodPost, "/v1/broadcasts", `{"message":{"text":"x"},"audience":{"allUsers":true}}`)
	require.Equal(t, http.StatusForbidden, rec.Code)
	b.call(t, b.view, http.MethodGet, "/v1/broadcasts/"+bc.ID, "")
	views := b.listAudit(t, "actor="+b.view, 10, 1)
	require.Len(t, views, 1)
	require.Equal(t, broadcast.AuditEntry{ID: views[0].ID, Time: views[0].Time, Actor: b.view, Role: "viewer", Action: api.ActionCreate, Status: http.StatusForbidden}, views[0])

	// Nothing in the log holds a message or a key.
	raw, err := b.e.Store.Client().XRange(context.Background(), store.KeyAudit, "-", "+").Result()
	require.NoError(t, err)
	dump := fmt.Sprint(raw)
	require.NotContains(t, dump, "secret plans")
	for _, tok := range b.keys.token {
		require.NotContains(t, dump, tok)
	}

	// Only an admin reads the log.
	rec = b.call(t, b.author, http.MethodGet, "/v1/audit", "")
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, errorOf(t, rec).Error.Message, "admin")
}

// GET /v1/audit pages newest first, with or without filters, and refuses
// a cursor it did not issue.
func TestAuditListPages(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	actor := "pager-" + b.e.Tenant[:8]
	for i := range 7 {
		require.NoError(t, b.e.Store.AppendAudit(ctx, broadcast.AuditEntry{Time: time.Now(), Actor: actor, Role: "admin",
			Action: api.ActionCancel, BroadcastID: fmt.Sprintf("b-%d", i), Status: 200}, 1_000_000))
	}
	for _, limit := range []int{1, 3, 7, 100} {
		got := b.listAudit(t, "actor="+actor, limit, 7)
		require.Len(t, got, 7, "limit %d", limit)
		for i, e := range got {
			require.Equal(t, fmt.Sprintf("b-%d", 6-i), e.BroadcastID, "newest first, limit %d", limit)
		}
	}
	one := b.listAudit(t, "actor="+actor+"&broadcastId=b-4", 2, 1)
	require.Len(t, one, 1)

	// Unfiltered pages follow each other without overlap.
	rec := b.call(t, b.admin, http.MethodGet, "/v1/audit?limit=2", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var p1, p2 api.AuditPage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p1))
	require.Len(t, p1.Entries, 2)
	require.NotEmpty(t, p1.NextCursor)
	rec = b.call(t, b.admin, http.MethodGet, "/v1/audit?limit=2&cursor="+p1.NextCursor, "")
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p2))
	require.NotEmpty(t, p2.Entries)
	require.Less(t, p2.Entries[0].ID, p1.Entries[1].ID)

	for _, q := range []string{"cursor=nope", "limit=0", "limit=1001", "colour=red"} {
		rec := b.call(t, b.admin, http.MethodGet, "/v1/audit?"+q, "")
		require.Equal(t, http.StatusBadRequest, rec.Code, q)
	}
}

// Every route that takes a body refuses one over its bound with 413,
// before reading it; JSON routes whatever the Content-Length says.
func TestOversizedBodiesAre413(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	bc := b.create(t, b.author)
	for _, pattern := range b.srv.Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodPost {
			continue
		}
		path = strings.NewReplacer("{id}", bc.ID, "{tenant}", b.e.Tenant).Replace(path)
		limit := int64(api.MaxBodyBytes)
		ct := "application/json"
		big := ""
		switch pattern {
		case "POST /v1/tenants/{tenant}/conversations/import":
			ct = "text/csv"
			row := "x,a:1" + strings.Repeat("x", 1000) + ",y\n" // rows of 1 KB: the size bound comes first
			big = "userId,conversationId,serviceUrl\n" + strings.Repeat(row, api.MaxImportBytes/len(row)+1)
		}
		if big == "" {
			big = `{"message":{"text":"` + strings.Repeat("x", int(limit)) + `"}}`
		}
		rec := b.call(t, b.admin, method, path, big, "Content-Type", ct)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "%s: %.200s", pattern, rec.Body.String())
		require.Equal(t, "too_large", errorOf(t, rec).Error.Code)

		if pattern != "POST /v1/broadcasts/{id}/cancel" { // cancel reads no body
			// No Content-Length: the handler stops reading at the bound.
			req := httptest.NewRequest(method, path, io.MultiReader(strings.NewReader(big)))
			req.ContentLength = -1
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+b.keys.token[b.admin])
			rec := httptest.NewRecorder()
			b.srv.ServeHTTP(rec, req)
			require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "%s chunked: %.200s", pattern, rec.Body.String())
		}
	}
	// Audited: an admin's oversized edit is still an edit attempt.
	entries := b.listAudit(t, "broadcastId="+bc.ID, 100, 2)
	found := false
	for _, e := range entries {
		found = found || (e.Action == api.ActionEdit && e.Status == http.StatusRequestEntityTooLarge)
	}
	require.True(t, found)
}

// A body over its bound is refused naming the bound of its own type: a
// JSON create's 4 MiB, not the 16 MiB of a multipart upload.
func TestOversizedBodiesNameTheirBound(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	for _, c := range []struct{ path, contentType, want string }{
		{"/v1/broadcasts", "application/json", "over 4 MiB (4194304 bytes), the bound of a JSON body"},
		{"/v1/broadcasts", "", "over 4 MiB (4194304 bytes), the bound of a JSON body"},
		{"/v1/broadcasts", "multipart/form-data; boundary=x", "over 16 MiB (16777216 bytes), the bound of a multipart/form-data body"},
		{"/v1/previews", "application/json", "over 4 MiB (4194304 bytes), the bound of a JSON body"},
		{"/v1/tenants/" + b.e.Tenant + "/conversations/import", "text/csv", "over 32 MiB (33554432 bytes), the bound of a CSV import"},
	} {
		// Refused on its Content-Length: a 40 MB body is never read.
		req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader("{}"))
		req.ContentLength = 40_000_000
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		req.Header.Set("Authorization", "Bearer "+b.keys.token[b.admin])
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "%s %s: %s", c.path, c.contentType, rec.Body.String())
		eb := errorOf(t, rec)
		require.Equal(t, "too_large", eb.Error.Code)
		require.Contains(t, eb.Error.Message, c.want, "%s %s", c.path, c.contentType)
	}
}

// A request no route serves needs a key like any other (401 before 404 or
// 405, so that routes cannot be probed without one), and then answers the
// API's JSON error: 404 for an unknown path, 405 with Allow for a method
// the path does not take.
func TestUnroutedRequestsAnswerJSONAfterTheKey(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	id := "0190c6d2-0000-7000-8000-000000000000"
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/v2/broadcasts", http.StatusNotFound, "not_found", ""},
		{http.MethodGet, "/", http.StatusNotFound, "not_found", ""},
		{http.MethodDelete, "/v1/broadcasts/" + id, http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodPut, "/v1/broadcasts", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{http.MethodGet, "/v1/broadcasts/" + id + "/cancel", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	}
	for _, c := range cases {
		rec := b.call(t, "", c.method, c.path, "")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s without a key: %s", c.method, c.path, rec.Body.String())
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		require.Equal(t, "unauthorized", errorOf(t, rec).Error.Code)
		require.Empty(t, rec.Header().Get("Allow"), "nothing about the route before the key")

		rec = b.call(t, b.view, c.method, c.path, "")
		require.Equal(t, c.status, rec.Code, "%s %s: %s", c.method, c.path, rec.Body.String())
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		eb := errorOf(t, rec)
		require.Equal(t, c.code, eb.Error.Code)
		require.Contains(t, eb.Error.Message, c.method+" "+c.path)
		require.Equal(t, c.allow, rec.Header().Get("Allow"))
	}
	rec := b.call(t, "", http.MethodGet, "/healthz", "")
	require.Equal(t, http.StatusOK, rec.Code, "liveness needs no key")
}

// A route the policy table does not list cannot be registered.
func TestRouteWithoutPolicyPanics(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "a", auth.Admin)
	srv := api.New(nil, nil, nil, api.Auth{Keys: k.set}, nil)
	require.PanicsWithValue(t, "api: route DELETE /v1/broadcasts/{id} has no entry in the policy table (policy.go): say which role may call it",
		func() { api.HandleForTest(srv, "DELETE /v1/broadcasts/{id}") })
	require.Panics(t, func() { api.New(nil, nil, nil, api.Auth{}, nil) }, "no keys, no API")
	for _, p := range api.PolicyPatterns() {
		require.Contains(t, srv.Routes(), p, "the policy table lists only routes that exist")
	}
}

// later is a sendAt a day ahead: a scheduled broadcast waits, untouched.
func later() string { return time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339) }
