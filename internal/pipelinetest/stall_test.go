package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A state-changing call answered with an error has not happened and never
// will; one answered outcome_unknown may have, and says which broadcast;
// a success has. These tests freeze Redis (SIGSTOP) or NATS right as the
// call's write is sent, thaw it later, and check that the answer agrees
// with the store and the simulator's ledger.

// longFreeze outlasts every try a Redis client makes of one command (3 s
// each, four tries) and a JetStream publish's 10 s: before the fence the
// API answered 503 and the write landed after the thaw.
const longFreeze = 14 * time.Second

// stallFence lets the API look for a lost write's outcome beyond
// longFreeze, so that it finds it once Redis answers again.
var stallFence = store.Fence{Window: 2 * time.Second, Budget: 30 * time.Second}

// frozenRedis is a redis-server of the test's own with a client hook that
// freezes it (SIGSTOP) right before the first command (or pipeline) that
// matches, once armed.
type frozenRedis struct {
	srv   *devenv.RedisServer
	match atomic.Pointer[func(args []any) bool]
	// frozen is closed when the write froze Redis, thawed when it runs again.
	frozen, thawed chan struct{}
	thawAfter      time.Duration
}

func newFrozenRedis(t *testing.T) *frozenRedis {
	t.Helper()
	srv, err := devenv.NewRedisServer(context.Background(), t.TempDir(), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return &frozenRedis{srv: srv}
}

// freezeNext arms the hook: the next command that match accepts freezes
// Redis, for d.
func (f *frozenRedis) freezeNext(d time.Duration, match func(args []any) bool) {
	f.frozen, f.thawed, f.thawAfter = make(chan struct{}), make(chan struct{}), d
	f.match.Store(&match)
}

// writesRecord matches a fenced write of a broadcast's record (the
// create's, the cancel's): a script naming a {b:<id>}:meta key and the
// fence's {b:<id>}:ops record (reads, and the fence's probe, do not name
// both).
func writesRecord(args []any) bool {
	meta, fence := false, false
	for _, a := range args {
		s, _ := a.(string)
		meta = meta || strings.HasSuffix(s, "}:meta")
		fence = fence || strings.HasSuffix(s, "}:ops")
	}
	return meta && fence
}

// claimsKey matches the claim of an Idempotency-Key.
func claimsKey(args []any) bool {
	return len(args) > 3 && (args[0] == "evalsha" || args[0] == "eval") && strings.HasPrefix(fmt.Sprint(args[3]), "idem:")
}

func (f *frozenRedis) check(args []any) {
	m := f.match.Load()
	if m == nil || !(*m)(args) || !f.match.CompareAndSwap(m, nil) {
		return
	}
	if err := f.srv.Freeze(); err != nil {
		panic(err)
	}
	close(f.frozen)
	time.AfterFunc(f.thawAfter, func() {
		if err := f.srv.Thaw(); err != nil {
			panic(err)
		}
		close(f.thawed)
	})
}

func (f *frozenRedis) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *frozenRedis) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f.check(cmd.Args())
		return next(ctx, cmd)
	}
}

func (f *frozenRedis) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var args []any
		for _, c := range cmds {
			args = append(args, c.Args()...)
		}
		f.check(args)
		return next(ctx, cmds)
	}
}

// apiError is the body of an error answer.
type apiError struct {
	Error struct {
		Code        string `json:"code"`
		BroadcastID string `json:"broadcastId"`
	} `json:"error"`
}

func decodeError(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	return e
}

func createTo(t *testing.T, e *pipelinetest.Env, user, text string, headers ...string) (int, []byte) {
	t.Helper()
	return postJSON(t, e.API, "/v1/broadcasts", fmt.Sprintf(`{"message":{"text":%q},"audience":{"userIds":[%q]}}`, text, user), headers...)
}

// tenantBroadcasts lists the ids of every broadcast of the tenant.
func tenantBroadcasts(t *testing.T, e *pipelinetest.Env) []string {
	t.Helper()
	list, _, err := e.Store.ListBroadcasts(context.Background(), store.ListFilter{TenantID: e.Tenant, Limit: 100})
	require.NoError(t, err)
	var ids []string
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return ids
}

// lastAudit is the newest audit entry of a create.
func lastAudit(t *testing.T, e *pipelinetest.Env) broadcast.AuditEntry {
	t.Helper()
	entries, _, err := e.Store.Audit(context.Background(), store.AuditFilter{Limit: 100})
	require.NoError(t, err)
	for _, a := range entries {
		if a.Action == "broadcast.create" {
			return a
		}
	}
	t.Fatalf("no audit entry of a create in %+v", entries)
	return broadcast.AuditEntry{}
}

// settled sends a control broadcast to user and waits until it is
// delivered: by then Redis has run whatever waited in its sockets, and the
// dispatcher has resumed what was registered.
func settled(t *testing.T, e *pipelinetest.Env, user string) string {
	t.Helper()
	code, body := createTo(t, e, user, "Control")
	require.Equal(t, http.StatusAccepted, code, string(body))
	id := decodeBroadcast(t, body).ID
	e.WaitCompleted(id, time.Minute)
	return id
}

// A create whose write was sent as Redis froze, for longer than every try
// of the client: the API answers 503 unavailable (its fence passed, and
// Redis had no record of it), and the broadcast never exists and is never
// sent, although the write ran when Redis came back. The client retries
// as told, with the same Idempotency-Key, and the user gets one message.
func TestCreateAnsweredThroughARedisFreezeAgreesWithTheLedger(t *testing.T) {
	t.Parallel()
	fr := newFrozenRedis(t)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 21},
		RedisURL: fr.srv.URL(), RedisHook: fr, Fence: stallFence})
	users := members(e)
	before := []string{settled(t, e, users[0].ID)} // the scripts are loaded

	fr.freezeNext(longFreeze, writesRecord)
	code, body := createTo(t, e, users[1].ID, "Frozen", "Idempotency-Key", "frozen-1")
	<-fr.thawed
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	require.Equal(t, "unavailable", decodeError(t, body).Error.Code)
	audit := lastAudit(t, e)
	require.Equal(t, http.StatusServiceUnavailable, audit.Status)
	require.Equal(t, "unavailable", audit.Code)
	require.Empty(t, audit.BroadcastID, "no broadcast to name")

	before = append(before, settled(t, e, users[2].ID))
	slices.Sort(before)
	require.Equal(t, before, tenantBroadcasts(t, e), "the create answered 503 wrote nothing")
	require.Empty(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID))

	// The client retries as told: one broadcast, one message.
	code, body = createTo(t, e, users[1].ID, "Frozen", "Idempotency-Key", "frozen-1")
	require.Equal(t, http.StatusAccepted, code, string(body))
	e.WaitCompleted(decodeBroadcast(t, body).ID, time.Minute)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID), 1)
}

// A create whose Idempotency-Key's claim was sent as Redis froze, for
// longer than every try of the client: answered 503, the key is not
// claimed when Redis comes back, and the client's retry creates the
// broadcast at once (not 409 in progress for the grace period).
func TestKeyClaimAnsweredThroughARedisFreezeIsNotMade(t *testing.T) {
	t.Parallel()
	fr := newFrozenRedis(t)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 25},
		RedisURL: fr.srv.URL(), RedisHook: fr, Fence: stallFence})
	users := members(e)
	code, body := createTo(t, e, users[0].ID, "Warm-up", "Idempotency-Key", "warm-up") // the scripts are loaded
	require.Equal(t, http.StatusAccepted, code, string(body))

	fr.freezeNext(longFreeze, claimsKey)
	code, body = createTo(t, e, users[1].ID, "Claimed", "Idempotency-Key", "claimed-1")
	<-fr.thawed
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	require.Equal(t, "unavailable", decodeError(t, body).Error.Code)

	code, body = createTo(t, e, users[1].ID, "Claimed", "Idempotency-Key", "claimed-1")
	require.Equal(t, http.StatusAccepted, code, string(body))
	e.WaitCompleted(decodeBroadcast(t, body).ID, time.Minute)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID), 1)
}

// A create whose write was sent as Redis froze, for longer than the API
// looks for its outcome: 503 outcome_unknown, naming the broadcast. It
// cannot be written after its fence, so it is not; a retry with the same
// Idempotency-Key creates it once.
func TestCreateWithItsOutcomeUnknownIsSentOnceOnARetry(t *testing.T) {
	t.Parallel()
	fr := newFrozenRedis(t)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 22},
		RedisURL: fr.srv.URL(), RedisHook: fr, Fence: store.Fence{Window: time.Second, Budget: 3 * time.Second},
		IdempotencyGrace: 2 * time.Second})
	users := members(e)
	settled(t, e, users[0].ID)

	fr.freezeNext(10*time.Second, writesRecord)
	code, body := createTo(t, e, users[1].ID, "Unknown", "Idempotency-Key", "unknown-1")
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	undecided := decodeError(t, body)
	require.Equal(t, "outcome_unknown", undecided.Error.Code)
	require.NotEmpty(t, undecided.Error.BroadcastID)
	require.Contains(t, string(body), "same Idempotency-Key is safe")
	<-fr.thawed
	settled(t, e, users[2].ID)
	_, err := e.Store.Broadcast(context.Background(), undecided.Error.BroadcastID)
	require.ErrorIs(t, err, store.ErrNotFound, "its write came after its fence")

	// Retried with the key: wait while the key is held, then one broadcast
	// under the id the answer named.
	var created broadcast.Broadcast
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body = createTo(t, e, users[1].ID, "Unknown", "Idempotency-Key", "unknown-1")
		if code == http.StatusConflict {
			return false
		}
		require.Equal(t, http.StatusAccepted, code, string(body))
		created = decodeBroadcast(t, body)
		return true
	}, "the retry creates the broadcast")
	require.Equal(t, undecided.Error.BroadcastID, created.ID)
	e.WaitCompleted(created.ID, time.Minute)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID), 1)
}

// A cancel of a scheduled broadcast whose write was sent as Redis froze,
// for longer than every try of the client: answered 503, the broadcast is
// not canceled and is sent at its time, although the write ran when Redis
// came back.
func TestCancelAnsweredThroughARedisFreezeAgreesWithTheLedger(t *testing.T) {
	t.Parallel()
	fr := newFrozenRedis(t)
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 23},
		RedisURL: fr.srv.URL(), RedisHook: fr, Fence: stallFence})
	users := members(e)
	scheduleTo := func(user string, at time.Time) string {
		code, body := postJSON(t, e.API, "/v1/broadcasts", fmt.Sprintf(`{"message":{"text":"Later"},"audience":{"userIds":[%q]},"sendAt":%q}`,
			user, at.UTC().Format(time.RFC3339Nano)))
		require.Equal(t, http.StatusAccepted, code, string(body))
		return decodeBroadcast(t, body).ID
	}
	// A cancel that goes through loads the script.
	warm := scheduleTo(users[0].ID, time.Now().Add(time.Hour))
	code, body := post(t, e.API, "/v1/broadcasts/"+warm+"/cancel")
	require.Equal(t, http.StatusOK, code, string(body))

	id := scheduleTo(users[1].ID, time.Now().Add(longFreeze+5*time.Second))
	fr.freezeNext(longFreeze, writesRecord)
	code, body = post(t, e.API, "/v1/broadcasts/"+id+"/cancel")
	<-fr.thawed
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	require.Equal(t, "unavailable", decodeError(t, body).Error.Code)

	end := e.WaitCompleted(id, time.Minute)
	require.Nil(t, end.CanceledAt, "the cancel answered 503 did not happen")
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID), 1)
}

// A replay whose job was published as NATS froze, for longer than a
// publish waits: the job is published again with the same message id
// until NATS takes it, and the answer says what was queued: the user gets
// the message once. (Before, the replay answered 503 and the job, stored
// when NATS came back, was sent.)
func TestReplayAnsweredThroughANATSFreezeAgreesWithTheLedger(t *testing.T) {
	t.Parallel()
	proxy, err := devenv.NewFreezeProxy(strings.TrimPrefix(testenv.NATS(t), "nats://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 10, InstalledFraction: 1, Seed: 24},
		NATSURL: "nats://" + proxy.Addr(), PublishBudget: 30 * time.Second})
	users := members(e)
	user := users[1].ID
	e.Sim.Inject(e.Tenant, user, teamsim.Fault{Status: http.StatusInternalServerError, Code: "ServiceError"})
	code, body := createTo(t, e, user, "Again")
	require.Equal(t, http.StatusAccepted, code, string(body))
	id := decodeBroadcast(t, body).ID
	require.EqualValues(t, 1, e.WaitCompleted(id, time.Minute).Counts.Failed)

	frozen := proxy.FreezeOn([]byte(id + ":" + user + ":"))
	go func() {
		select {
		case <-frozen:
			time.AfterFunc(longFreeze, proxy.Thaw)
		case <-t.Context().Done():
		}
	}()
	code, res, text := replay(t, e, id, `{}`)
	require.Equal(t, http.StatusAccepted, code, text)
	require.Equal(t, broadcast.ReplayResult{BroadcastID: id, Round: 1, Queued: 1}, res)
	e.WaitCompleted(id, time.Minute)
	settled(t, e, users[2].ID)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, user), 1)
	rec, err := e.Store.Recipient(context.Background(), id, user)
	require.NoError(t, err)
	require.Equal(t, broadcast.StateSent, rec.State)
}
