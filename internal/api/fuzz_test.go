package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// POST /v1/broadcasts through the real handler, dispatcher and Redis,
// with any body, Content-Type and Idempotency-Key: never a 5xx, never a
// panic; a 2xx with the broadcast and its Location, or a 4xx whose JSON
// error names the problem (and, for invalid_request, the fields).
//
// The dispatcher is not running, so nothing is expanded, and each
// broadcast created is deleted at once: the Redis other tests share does
// not fill up.
func FuzzCreate(f *testing.F) {
	for _, s := range []struct {
		body, contentType, key string
		withKey                bool
	}{
		{`{"message":{"text":"hi"},"audience":{"allUsers":true}}`, "application/json", "", false},
		{`{"message":{"text":"hi"},"audience":{"allUsers":true}}`, "application/json; charset=utf-8", "k-1", true},
		{`{"message":{"text":"hi"},"audience":{"userIds":["11111111-1111-1111-1111-111111111111"]},"priority":"urgent"}`, "", "hr/42", true},
		{`{"message":{"card":{"type":"AdaptiveCard","version":"1.5","body":[]}},"audience":{"allUsers":true}}`, "application/json", "", true},
		{`{"message":{"template":{"title":"Hi {{givenName}}","imageUrl":"https://a.example/i.png","buttons":[{"title":"Go","url":"https://a.example"}]}},"audience":{"allUsers":true}}`, "application/json", "t-1", true},
		{`{"message":{"text":"Hi {{nickname}}"},"audience":{"allUsers":true}}`, "application/json", "", false},
		{`{"message":{"text":"hi"}`, "text/plain", "a b", true},
		{`{"tenantId":"12345678-1234-1234-1234-123456789012","message":{"text":"hi"},"audience":{"allUsers":true}}`, "application/json", "x", true},
		{``, "application/json", "\x7f", true},
	} {
		f.Add([]byte(s.body), s.contentType, s.key, s.withKey)
	}
	ctx := context.Background()
	rdb, err := store.Connect(ctx, testenv.Redis(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)
	tenant := testenv.FreeTenant(f)
	d := dispatch.New(dispatch.Config{Tenants: []string{tenant}}, st, nil, nil, zap.NewNop())
	_, h := newAdminAPI(f, d, nil, st, zap.NewNop())

	f.Fuzz(func(t *testing.T, body []byte, contentType, key string, withKey bool) {
		req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts", bytes.NewReader(body))
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if withKey {
			req.Header[broadcast.IdempotencyHeader] = []string{key}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch {
		case rec.Code == http.StatusAccepted || rec.Code == http.StatusOK:
			var b broadcast.Broadcast
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.ID == "" {
				t.Fatalf("%d without a broadcast: %v %s", rec.Code, err, rec.Body.String())
			}
			if rec.Header().Get("Location") != "/v1/broadcasts/"+b.ID {
				t.Fatalf("Location %q for %s", rec.Header().Get("Location"), b.ID)
			}
			forget(t, st, tenant, b.ID, key, withKey)
		case rec.Code >= 400 && rec.Code < 500:
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Fatalf("%d with a body that is not JSON: %v %q", rec.Code, err, rec.Body.String())
			}
			if eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%d without code or message: %s", rec.Code, rec.Body.String())
			}
			if eb.Error.Code == "invalid_request" && (len(eb.Error.Fields) == 0 || eb.Error.Fields[0].Field == "") {
				t.Fatalf("a 400 that names no field: %s", rec.Body.String())
			}
		default:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body.String())
		}
	})
}

// forget deletes a broadcast the fuzzer created and its key.
func forget(t *testing.T, st *store.Store, tenant, id, key string, withKey bool) {
	t.Helper()
	ctx := context.Background()
	rdb := st.Client()
	keys := []string{"{b:" + id + "}:meta", "{b:" + id + "}:counts", "{b:" + id + "}:users"}
	if withKey {
		keys = append(keys, "idem:"+tenant+":admin:"+key) // newAdminAPI's key is "admin"
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZRem(ctx, "broadcasts", id).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZRem(ctx, "broadcasts:expanding", id).Err(); err != nil {
		t.Fatal(err)
	}
}
