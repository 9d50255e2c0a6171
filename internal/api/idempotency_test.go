package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// post sends a create with the given Idempotency-Key values (none: no header).
func post(t *testing.T, h http.Handler, body string, keys ...string) (*httptest.ResponseRecorder, errorBody) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add(broadcast.IdempotencyHeader, k)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var eb errorBody
	if rec.Code >= 400 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb), "error bodies are JSON: %s", rec.Body.String())
		require.NotEmpty(t, eb.Error.Message)
	}
	return rec, eb
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) broadcast.Broadcast {
	t.Helper()
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	return b
}

// broadcastsOf lists the ids of the tenant's broadcasts, from the store's
// set of every broadcast.
func broadcastsOf(t *testing.T, st *store.Store, tenant string) []string {
	t.Helper()
	ctx := context.Background()
	ids, err := st.Client().ZRange(ctx, "broadcasts", 0, -1).Result()
	require.NoError(t, err)
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = st.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, "{b:"+id+"}:meta", "tenant")
		}
		return nil
	})
	if err != nil {
		require.ErrorIs(t, err, redis.Nil)
	}
	var out []string
	for i, c := range cmds {
		if c.Val() == tenant {
			out = append(out, ids[i])
		}
	}
	return out
}

// A retry with the same key and body gets the first broadcast back, with
// 200 and Idempotent-Replayed; a defaulted tenant and the same tenant named
// are the same request; the key with another body is a 422; keys are per
// tenant.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}, NoWorkers: true, Tenants: 2})
	const key = "hr-7f3a:request/42"
	body := `{"message":{"text":"Open enrolment starts Monday"},"audience":{"allUsers":true}}`

	rec, _ := post(t, e.API, body, key)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Empty(t, rec.Header().Get(api.ReplayedHeader))
	first := decode(t, rec)

	same := []string{
		body,
		// The same request spelled out: tenant named (in capitals), priority
		// and notify at their defaults, spaces.
		`{ "tenantId": "` + strings.ToUpper(e.Tenant) + `", "priority": "normal",
		   "message": {"text": "Open enrolment starts Monday", "notify": true}, "audience": {"allUsers": true} }`,
	}
	for _, b := range same {
		rec, _ = post(t, e.API, b, key)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Equal(t, "true", rec.Header().Get(api.ReplayedHeader))
		require.Equal(t, "/v1/broadcasts/"+first.ID, rec.Header().Get("Location"))
		got := decode(t, rec)
		require.Equal(t, first.ID, got.ID)
		require.Equal(t, first.CreatedAt, got.CreatedAt)
	}
	require.Equal(t, []string{first.ID}, broadcastsOf(t, e.Store, e.Tenant), "one broadcast for three requests")

	for _, other := range []string{
		`{"message":{"text":"Open enrolment starts Tuesday"},"audience":{"allUsers":true}}`,
		`{"message":{"text":"Open enrolment starts Monday"},"audience":{"allUsers":true},"priority":"urgent"}`,
		`{"message":{"text":"Open enrolment starts Monday","notify":false},"audience":{"allUsers":true}}`,
		`{"message":{"text":"Open enrolment starts Monday"},"audience":{"userIds":["` + e.Users()[0].ID + `"]}}`,
	} {
		rec, eb := post(t, e.API, other, key)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		require.Equal(t, "idempotency_key_reused", eb.Error.Code)
		require.Contains(t, eb.Error.Message, broadcast.IdempotencyHeader)
		require.Contains(t, eb.Error.Message, "different request")
		require.Contains(t, eb.Error.Message, first.ID)
		require.Equal(t, broadcast.IdempotencyHeader, eb.Error.Fields[0].Field)
	}
	require.Len(t, broadcastsOf(t, e.Store, e.Tenant), 1, "a refused reuse creates nothing")

	// Another key is another broadcast; no key, another again.
	rec, _ = post(t, e.API, body, key+"-2")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.NotEqual(t, first.ID, decode(t, rec).ID)
	rec, _ = post(t, e.API, body)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, broadcastsOf(t, e.Store, e.Tenant), 3)

	// The same key in the other tenant is that tenant's own.
	rec, _ = post(t, e.API, `{"tenantId":"`+e.Tenants[1]+`","message":{"text":"Open enrolment starts Monday"},"audience":{"allUsers":true}}`, key)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, broadcastsOf(t, e.Store, e.Tenants[1]), 1)
}

// A malformed key is a 400 naming the header, and creates nothing.
func TestIdempotencyKeyRejected(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, NoWorkers: true})
	body := `{"message":{"text":"hi"},"audience":{"allUsers":true}}`
	cases := map[string][]string{
		"empty":       {""},
		"space":       {"two words"},
		"tab":         {"a\tb"},
		"control":     {"a\x01b"},
		"not ASCII":   {"clé"},
		"too long":    {strings.Repeat("k", broadcast.MaxIdempotencyKey+1)},
		"given twice": {"a", "b"},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			rec, eb := post(t, e.API, body, keys...)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			require.Equal(t, "invalid_request", eb.Error.Code)
			require.Equal(t, broadcast.IdempotencyHeader, eb.Error.Fields[0].Field)
			require.Contains(t, eb.Error.Message, broadcast.IdempotencyHeader)
		})
	}
	rec, _ := post(t, e.API, body, strings.Repeat("k", broadcast.MaxIdempotencyKey))
	require.Equal(t, http.StatusAccepted, rec.Code, "255 bytes is allowed: %s", rec.Body.String())
	require.Len(t, broadcastsOf(t, e.Store, e.Tenant), 1)
}

// Concurrent retries with one key create one broadcast: one request
// creates it, the others get it back or are told to retry (409), and a
// retry after them all gets it.
func TestConcurrentRetriesCreateOneBroadcast(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 40, InstalledFraction: 1}, NoWorkers: true})
	var ids []string
	for _, u := range e.Users() {
		ids = append(ids, `"`+u.ID+`"`)
	}
	body := `{"message":{"text":"Fire drill at 3pm"},"audience":{"userIds":[` + strings.Join(ids, ",") + `]}}`
	const n = 16
	recs := make([]*httptest.ResponseRecorder, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/broadcasts", strings.NewReader(body))
			req.Header.Set(broadcast.IdempotencyHeader, "drill-2026-12-01")
			recs[i] = httptest.NewRecorder()
			<-start
			e.API.ServeHTTP(recs[i], req)
		})
	}
	close(start)
	wg.Wait()

	created, replayed, busy := 0, 0, 0
	id := ""
	for _, rec := range recs {
		switch rec.Code {
		case http.StatusAccepted:
			created++
		case http.StatusOK:
			replayed++
			require.Equal(t, "true", rec.Header().Get(api.ReplayedHeader))
		case http.StatusConflict:
			busy++
			var eb errorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
			require.Equal(t, "idempotency_key_in_progress", eb.Error.Code)
			secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
			require.NoError(t, err, "a 409 says when to retry")
			require.Positive(t, secs)
			continue
		default:
			t.Fatalf("unexpected answer %d: %s", rec.Code, rec.Body.String())
		}
		b := decode(t, rec)
		if id == "" {
			id = b.ID
		}
		require.Equal(t, id, b.ID, "every success names the one broadcast")
	}
	t.Logf("%d requests: %d created, %d replayed, %d told to retry", n, created, replayed, busy)
	require.Equal(t, 1, created)
	require.Equal(t, []string{id}, broadcastsOf(t, e.Store, e.Tenant))

	rec, _ := post(t, e.API, body, "drill-2026-12-01")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, id, decode(t, rec).ID)
	// The broadcast is expanded once: 40 recipients, not 40 per request.
	testenv.Eventually(t, time.Minute, func() bool {
		b, err := e.Store.Broadcast(context.Background(), id)
		require.NoError(t, err)
		return b.Status != broadcast.StatusExpanding
	}, "broadcast %s is expanded", id)
	b, err := e.Store.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.EqualValues(t, 40, b.Counts.Total)
}

// A key whose broadcast is not written yet (its create is running, or
// died) is a 409 with Retry-After until the grace period ends.
func TestIdempotencyKeyInProgress(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, NoWorkers: true})
	// A dispatcher that is not running expands nothing, so the record can
	// be removed behind its back, as if its write had never happened.
	// Its tenant is one the running dispatcher does not serve, so that
	// nothing expands it either.
	d := dispatch.New(dispatch.Config{Tenants: []string{testenv.FreeTenant(t)}, IdempotencyGrace: time.Hour}, e.Store, e.Queue, nil, e.Log)
	_, h := newAdminAPI(t, d, e.Queue, e.Store, e.Log)
	body := `{"message":{"text":"hi"},"audience":{"allUsers":true}}`
	rec, _ := post(t, h, body, "k1")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	id := decode(t, rec).ID
	ctx := context.Background()
	rdb := e.Store.Client()
	keys, err := rdb.Keys(ctx, "{b:"+id+"}*").Result()
	require.NoError(t, err)
	require.NoError(t, rdb.Del(ctx, keys...).Err())
	require.NoError(t, rdb.ZRem(ctx, "broadcasts", id).Err())
	require.NoError(t, rdb.ZRem(ctx, "broadcasts:expanding", id).Err())

	rec, eb := post(t, h, body, "k1")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	require.Equal(t, "idempotency_key_in_progress", eb.Error.Code)
	require.Contains(t, eb.Error.Message, id)
	require.Equal(t, "5", rec.Header().Get("Retry-After"), "at most 5 s, though the grace is an hour")
}

// Idempotency-Keys are per API key: another author's request with the same
// key is its own create, never a replay or a 422 that names the first
// author's broadcast; each author's retry gets its own broadcast back.
func TestIdempotencyKeysArePerAPIKey(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	const key = "hr-2026-12-01-benefits"
	body := `{"message":{"text":"once"},"audience":{"allUsers":true},"sendAt":"` + later() + `"}`
	create := func(name, body string, want int) *httptest.ResponseRecorder {
		t.Helper()
		rec := b.call(t, name, http.MethodPost, "/v1/broadcasts", body, broadcast.IdempotencyHeader, key)
		require.Equal(t, want, rec.Code, "%s: %s", name, rec.Body.String())
		return rec
	}
	mine := decode(t, create(b.author, body, http.StatusAccepted))
	theirs := decode(t, create(b.other, body, http.StatusAccepted))
	require.NotEqual(t, mine.ID, theirs.ID, "another key's create is another broadcast")
	require.Equal(t, b.other, theirs.CreatedBy)

	for name, id := range map[string]string{b.author: mine.ID, b.other: theirs.ID} {
		got := decode(t, create(name, body, http.StatusOK))
		require.Equal(t, id, got.ID, "%s's retry gets its own broadcast", name)
	}
	// An admin's key is no wider: its key of that name is its own too.
	admins := decode(t, create(b.admin, body, http.StatusAccepted))
	require.NotContains(t, []string{mine.ID, theirs.ID}, admins.ID)

	rec := create(b.other, `{"message":{"text":"twice"},"audience":{"allUsers":true},"sendAt":"`+later()+`"}`, http.StatusUnprocessableEntity)
	msg := errorOf(t, rec).Error.Message
	require.Contains(t, msg, theirs.ID, "a reuse names the key's own broadcast")
	require.NotContains(t, msg, mine.ID, "never another author's")
}
