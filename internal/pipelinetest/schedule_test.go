package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// postJSON posts body to the API with the headers given as name, value pairs.
func postJSON(t *testing.T, h http.Handler, path, body string, headers ...string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func decodeBroadcast(t *testing.T, body []byte) broadcast.Broadcast {
	t.Helper()
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(body, &b), string(body))
	return b
}

// schedule creates an all-users broadcast through the API, to start at at.
func schedule(t *testing.T, e *pipelinetest.Env, text string, at time.Time) broadcast.Broadcast {
	t.Helper()
	code, body := postJSON(t, e.API, "/v1/broadcasts", fmt.Sprintf(`{"message":{"text":%q},"audience":{"allUsers":true},"sendAt":%q}`,
		text, at.UTC().Format(time.RFC3339Nano)))
	require.Equal(t, http.StatusAccepted, code, string(body))
	b := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusScheduled, b.Status)
	require.Equal(t, broadcast.KindBroadcast, b.Kind)
	require.NotNil(t, b.SendAt)
	require.True(t, b.SendAt.Equal(at.UTC().Truncate(time.Millisecond)), "%s", b.SendAt)
	return b
}

// untouched checks that a scheduled broadcast has nothing recorded or
// queued: no recipient, no consumer, still waiting for its time.
func untouched(t *testing.T, e *pipelinetest.Env, id string, status broadcast.Status) {
	t.Helper()
	b, err := e.Store.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, status, b.Status)
	require.Zero(t, b.Counts.Total, "%+v", b.Counts)
	require.Nil(t, b.StartedAt)
	for _, stage := range []broadcast.Stage{broadcast.StageInstall, broadcast.StageSend} {
		_, err := e.Queue.Consumer(context.Background(), queue.ConsumerName(stage, id))
		require.Error(t, err, "no %s consumer before the start", stage)
	}
}

// members are the simulator's users an all-users broadcast reaches.
func members(e *pipelinetest.Env) []teamsim.User {
	var out []teamsim.User
	for _, u := range e.Users() {
		if u.UserType != "Guest" {
			out = append(out, u)
		}
	}
	return out
}

// A scheduled broadcast is recorded as scheduled and nothing of it is
// expanded, queued or sent before its sendAt; then a dispatcher starts
// it and every member gets it once, none before its time.
func TestScheduledBroadcastWaitsForItsTime(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 0.8, Seed: 11}})
	at := time.Now().Add(3 * time.Second)
	b := schedule(t, e, "At three", at)

	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/broadcasts/"+b.ID, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"status": "scheduled"`)
	require.Contains(t, rec.Body.String(), `"sendAt": "`+at.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)+`"`)

	// Until its time: nothing. What is read before a clock reading that
	// is still before sendAt must show the broadcast untouched.
	checks := 0
	for {
		got, err := e.Store.Broadcast(context.Background(), b.ID)
		require.NoError(t, err)
		_, cerr := e.Queue.Consumer(context.Background(), queue.ConsumerName(broadcast.StageInstall, b.ID))
		delivered := e.Sim.Ledger().Deliveries
		if !time.Now().Before(at) {
			break
		}
		require.Equal(t, broadcast.StatusScheduled, got.Status)
		require.Zero(t, got.Counts.Total)
		require.Error(t, cerr, "no consumer before the start")
		require.Zero(t, delivered)
		checks++
		time.Sleep(50 * time.Millisecond)
	}
	require.Positive(t, checks)

	end := e.WaitCompleted(b.ID, 3*time.Minute)
	require.NotNil(t, end.StartedAt)
	require.False(t, end.StartedAt.Before(*end.SendAt), "started %s, scheduled for %s", end.StartedAt, end.SendAt)
	ms := members(e)
	require.Equal(t, int64(len(ms)), end.Counts.Total)
	require.Equal(t, end.Counts.Total, end.Counts.Sent+end.Counts.Blocked+end.Counts.Failed, "%+v", end.Counts)
	for _, u := range ms {
		ds := e.Sim.UserDeliveries(e.Tenant, u.ID)
		if u.Blocked || u.Disabled {
			require.Empty(t, ds)
			continue
		}
		require.Len(t, ds, 1, "user %s", u.ID)
		require.False(t, ds[0].At.Before(*end.SendAt), "delivered %s, before its sendAt %s", ds[0].At, end.SendAt)
	}
}

// A scheduled broadcast lives in Redis, not in a dispatcher: with every
// dispatcher stopped at its sendAt it waits, and a dispatcher started
// later sends it at once. One that a dispatcher started (the script that
// claims it) just before dying is expanded by the next one.
func TestScheduledBroadcastSurvivesADispatcherRestart(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 20, InstalledFraction: 1, Seed: 12}})
	at := time.Now().Add(2 * time.Second)
	waiting := schedule(t, e, "Across a restart", at)
	claimed := schedule(t, e, "Claimed by a dispatcher that died", at)
	e.StopDispatcher()

	for time.Now().Before(at.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	untouched(t, e, waiting.ID, broadcast.StatusScheduled)
	// A dispatcher claims the second and dies before expanding it.
	started, _, err := e.Store.StartScheduled(context.Background(), claimed.ID, e.Tenants)
	require.NoError(t, err)
	require.True(t, started)

	e.StartDispatcher()
	for _, id := range []string{waiting.ID, claimed.ID} {
		end := e.WaitCompleted(id, 3*time.Minute)
		require.Equal(t, int64(20), end.Counts.Sent, "%+v", end.Counts)
	}
	l := e.Sim.Ledger()
	require.Equal(t, int64(40), l.Deliveries)
	require.Zero(t, l.Duplicates)
	for _, u := range e.Users() {
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), 2, "user %s got each broadcast once", u.ID)
	}
}

// A cancel of a scheduled broadcast ends it at once (200, canceled), and
// its time passing starts nothing.
func TestCancelOfAScheduledBroadcast(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 13}})
	at := time.Now().Add(2 * time.Second)
	b := schedule(t, e, "Never", at)

	// Nothing to replay before the start.
	code, body := postJSON(t, e.API, "/v1/broadcasts/"+b.ID+"/replay", `{}`)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "not_started")

	code, body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeBroadcast(t, body)
	require.Equal(t, broadcast.StatusCanceled, got.Status)
	require.NotNil(t, got.CanceledAt)
	require.Zero(t, got.Counts.Total)
	_, scheduled, err := e.Store.Scheduled(context.Background(), b.ID)
	require.NoError(t, err)
	require.False(t, scheduled)

	// Past its time, with the dispatcher looking every 100 ms: nothing.
	for time.Now().Before(at.Add(2 * time.Second)) {
		untouched(t, e, b.ID, broadcast.StatusCanceled)
		time.Sleep(100 * time.Millisecond)
	}
	require.Zero(t, e.Sim.Ledger().Deliveries)

	code, body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, broadcast.StatusCanceled, decodeBroadcast(t, body).Status)
}

// Cancels sent at the moment scheduled broadcasts start: whichever wins,
// each broadcast ends canceled (or completed, if it was all sent before
// the cancel arrived), with every recipient final, and the ledger holds
// exactly the sends the counters report.
func TestCancelRacingTheScheduledStart(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 200, InstalledFraction: 1, Seed: 14},
		TenantRPS: 200})
	base := time.Now().Add(2 * time.Second)
	var bs []broadcast.Broadcast
	for i := range 12 {
		bs = append(bs, schedule(t, e, fmt.Sprintf("Race %d", i), base.Add(time.Duration(i)*40*time.Millisecond)))
	}
	// Each cancel comes 0 to 220 ms after its sendAt: the dispatcher looks
	// every 100 ms, so some come before the start and some after.
	var wg sync.WaitGroup
	answers := make([]string, len(bs))
	codes := make([]int, len(bs))
	for i, b := range bs {
		wg.Go(func() {
			time.Sleep(time.Until(b.SendAt.Add(time.Duration(i) * 20 * time.Millisecond)))
			var body []byte
			codes[i], body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
			answers[i] = string(body)
		})
	}
	wg.Wait()
	for i := range bs {
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted, http.StatusConflict}, codes[i], answers[i])
	}
	var sent int64
	outcomes := map[string]int{}
	for _, b := range bs {
		end := e.WaitFor(b.ID, 3*time.Minute, "ended", func(b *broadcast.Broadcast) bool { return b.Status.Ended() })
		c := end.Counts
		require.Equal(t, c.Total, c.Done(), "%+v", c)
		if end.Status == broadcast.StatusCompleted {
			require.Equal(t, int64(200), c.Sent)
		}
		switch {
		case end.StartedAt == nil:
			outcomes["canceled before the start"]++
			require.Zero(t, c.Total)
		case end.Status == broadcast.StatusCanceled:
			outcomes["canceled after the start"]++
		default:
			outcomes["completed"]++
		}
		sent += c.Sent
	}
	t.Logf("outcomes: %v", outcomes)
	time.Sleep(500 * time.Millisecond) // nothing reaches Teams after the end
	l := e.Sim.Ledger()
	require.Equal(t, sent, l.Deliveries)
	require.Zero(t, l.Duplicates)
}

// sendAt is checked at the edge: an RFC 3339 time, not more than a few
// seconds in the past (a little skew is sent now), at most a year ahead;
// and an Idempotency-Key create with sendAt replays as any other.
func TestSendAtValidation(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 3, InstalledFraction: 1}, NoWorkers: true})
	body := func(sendAt string) string {
		return `{"message":{"text":"hi"},"audience":{"allUsers":true},"sendAt":` + sendAt + `}`
	}
	q := func(t time.Time) string { return `"` + t.UTC().Format(time.RFC3339) + `"` }
	now := time.Now()
	for _, c := range []struct{ name, sendAt, problem string }{
		{"not a time", `"tomorrow"`, "must be an RFC 3339 time"},
		{"no zone", `"2026-12-02T09:00:00"`, "must be an RFC 3339 time"},
		{"a number", `1764666000`, "must be a string"},
		{"in the past", q(now.Add(-time.Hour)), "is in the past"},
		{"over a year ahead", q(now.Add(400 * 24 * time.Hour)), "more than 365 days ahead"},
	} {
		code, resp := postJSON(t, e.API, "/v1/broadcasts", body(c.sendAt))
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", c.name, resp)
		var eb struct {
			Error struct {
				Fields []broadcast.FieldError `json:"fields"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(resp, &eb))
		require.Len(t, eb.Error.Fields, 1, "%s: %s", c.name, resp)
		require.Equal(t, "sendAt", eb.Error.Fields[0].Field, c.name)
		require.Contains(t, eb.Error.Fields[0].Problem, c.problem, c.name)
	}

	// Within the skew: sent now.
	code, resp := postJSON(t, e.API, "/v1/broadcasts", body(`"`+time.Now().Add(-2*time.Second).UTC().Format(time.RFC3339Nano)+`"`))
	require.Equal(t, http.StatusAccepted, code, string(resp))
	require.Equal(t, broadcast.StatusExpanding, decodeBroadcast(t, resp).Status)

	// An Idempotency-Key create with sendAt: a retry gets it, another
	// sendAt with the key is another request. A time in any zone is the
	// same time.
	at := now.Add(time.Hour).Truncate(time.Second)
	key := "sched-" + e.Tenant
	code, resp = postJSON(t, e.API, "/v1/broadcasts", body(q(at)), "Idempotency-Key", key)
	require.Equal(t, http.StatusAccepted, code, string(resp))
	first := decodeBroadcast(t, resp)
	require.Equal(t, broadcast.StatusScheduled, first.Status)
	code, resp = postJSON(t, e.API, "/v1/broadcasts", body(`"`+at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)+`"`), "Idempotency-Key", key)
	require.Equal(t, http.StatusOK, code, string(resp))
	require.Equal(t, first.ID, decodeBroadcast(t, resp).ID)
	code, resp = postJSON(t, e.API, "/v1/broadcasts", body(q(at.Add(time.Minute))), "Idempotency-Key", key)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(resp))
	require.Contains(t, string(resp), "idempotency_key_reused")
	// A refused sendAt does not keep the key it came with.
	code, resp = postJSON(t, e.API, "/v1/broadcasts", body(q(now.Add(-time.Hour))), "Idempotency-Key", key+"-2")
	require.Equal(t, http.StatusBadRequest, code, string(resp))
	code, resp = postJSON(t, e.API, "/v1/broadcasts", body(q(at)), "Idempotency-Key", key+"-2")
	require.Equal(t, http.StatusAccepted, code, string(resp))
}
