package teamsim

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fault  Fault
		status int
		code   string // error.code; "209" for the errorCode body
	}{
		{Fault{Status: 400, Code: "BadArgument"}, 400, "BadArgument"},
		{Fault{Status: 401, Code: "Unauthorized"}, 401, "Unauthorized"},
		{Fault{Status: 403, Code: "BotDisabledByAdmin"}, 403, "BotDisabledByAdmin"},
		{Fault{Status: 403, Code: "ConversationBlockedByUser"}, 403, "ConversationBlockedByUser"},
		{Fault{Status: 403, Code: "209"}, 403, "209"},
		{Fault{Code: "209"}, 403, "209"},
		{Fault{Status: 403, Code: "BotNotInConversationRoster"}, 403, "BotNotInConversationRoster"},
		{Fault{Status: 403, Code: "InvalidBotApiHost"}, 403, "InvalidBotApiHost"},
		{Fault{Status: 404}, 404, "ConversationNotFound"},
		{Fault{Status: 412, Code: "PreconditionFailed"}, 412, "PreconditionFailed"},
		{Fault{Status: 413}, 413, "MessageSizeTooBig"},
		{Fault{Status: 500, Code: "ServiceError"}, 500, "ServiceError"},
		{Fault{Status: 502}, 502, "BadGateway"},
		{Fault{Status: 503}, 503, "ServiceUnavailable"},
		{Fault{Status: 504}, 504, "GatewayTimeout"},
		{Fault{}, 500, "ServiceError"},
	} {
		t.Run(tc.code+"/"+http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
			conn := b.connectorToken(t)
			user := b.sim.Users(b.tenant)[0]
			conv := b.conversation(t, conn, user.ID)
			f := tc.fault
			f.Times = 2
			b.sim.Inject(b.tenant, user.ID, f)
			for range 2 {
				r := b.send(t, conn, conv, hello)
				require.Equal(t, tc.status, r.status, "%s", r.body)
				if tc.code == "209" {
					require.EqualValues(t, 209, r.json(t)["errorCode"])
				} else {
					require.Equal(t, tc.code, r.errorCode(t))
				}
			}
			require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status, "only f.Times requests")
			require.EqualValues(t, 1, b.sim.Ledger().Deliveries)
		})
	}
}

// A user's faults queue; a create takes one only if it is meant for
// creates, so a fault aimed at the message is not spent finding the
// conversation.
func TestInjectedFaultsApplyToCreatesAndQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
	conn := b.connectorToken(t)
	user := b.sim.Users(b.tenant)[0]
	b.sim.Inject(b.tenant, user.ID, Fault{Status: 503, Code: "ServiceUnavailable", OnCreate: true})
	b.sim.Inject(b.tenant, user.ID, Fault{Status: 412, Code: "PreconditionFailed"})
	require.Equal(t, http.StatusServiceUnavailable, b.createConversation(t, conn, user.ID).status)
	require.Equal(t, http.StatusCreated, b.createConversation(t, conn, user.ID).status, "the 412 waits for a message call")
	conv := b.sim.users(t, user.ID).conv.chatID
	require.Equal(t, http.StatusPreconditionFailed, b.send(t, conn, conv, hello).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)

	b.sim.Inject(b.tenant, "nobody", Fault{Status: 500}) // logged, ignored
	b.sim.Inject("nowhere", user.ID, Fault{Status: 500})
}

func TestInjected429BlocksTheTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convA, convB := b.sim.users(t, users[0].ID).conv.chatID, b.sim.users(t, users[1].ID).conv.chatID
	b.sim.Inject(b.tenant, users[0].ID, Fault{Status: 429, Code: "Throttled", RetryAfter: 1500 * ms})

	r := b.send(t, conn, convA, hello)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "2", r.header.Get("Retry-After"), "whole seconds, rounded up")
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)

	b.clock.Advance(time.Second)
	r = b.send(t, conn, convB, hello)
	require.Equal(t, http.StatusTooManyRequests, r.status, "the whole tenant waits")
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.EqualValues(t, 1, b.sim.Ledger().RetryAfterViolations)

	b.clock.Advance(time.Second)
	require.Equal(t, http.StatusCreated, b.send(t, conn, convB, hello).status)
	require.EqualValues(t, 2, b.sim.Ledger().Throttled)
}

func TestRandomFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 5, InstalledFraction: 1, ErrorRate: 1})
	conn := b.connectorToken(t)
	conv := b.sim.users(t, b.sim.Users(b.tenant)[0].ID).conv.chatID
	seen := map[int]bool{}
	for range 30 {
		r := b.send(t, conn, conv, hello)
		require.Contains(t, []int{502, 503, 504}, r.status)
		require.Contains(t, []string{"BadGateway", "ServiceUnavailable", "GatewayTimeout"}, r.errorCode(t))
		seen[r.status] = true
	}
	require.Len(t, seen, 3, "all three answers occur")

	b.sim.SetFaults(0, 1, 0)
	r := b.send(t, conn, conv, hello)
	require.Equal(t, http.StatusPreconditionFailed, r.status)
	require.Equal(t, "PreconditionFailed", r.errorCode(t))

	b.sim.SetFaults(0, 0, 0)
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)
	require.Equal(t, http.StatusCreated, b.createConversation(t, conn, b.sim.Users(b.tenant)[1].ID).status, "creates are not hit by random faults")
}

func TestRandomFaultsAreDeterministicForASeed(t *testing.T) {
	t.Parallel()
	run := func() []int {
		b := setup(t, Config{UsersPerTenant: 4, InstalledFraction: 1, ErrorRate: 0.3, PreconditionRate: 0.2, Seed: 11})
		conn := b.connectorToken(t)
		var statuses []int
		for _, u := range b.sim.Users(b.tenant) {
			conv := b.sim.users(t, u.ID).conv.chatID
			for range 10 {
				statuses = append(statuses, b.send(t, conn, conv, hello).status)
			}
		}
		return statuses
	}
	first := run()
	require.Equal(t, first, run())
	require.Contains(t, first, http.StatusCreated)
	require.Contains(t, first, http.StatusPreconditionFailed)
}

func TestLatencyHoldsNoLock(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 20, InstalledFraction: 1, ConnectorRPS: 1000, ConversationLimits: true}, withRealClock())
	conn := b.connectorToken(t)
	conv := b.sim.users(t, b.sim.Users(b.tenant)[0].ID).conv.chatID
	b.sim.SetFaults(0, 0, 200*ms)

	users := b.sim.Users(b.tenant)
	convs := make([]string, len(users))
	for i, u := range users {
		convs[i] = b.sim.users(t, u.ID).conv.chatID
	}
	statuses := make([]int, len(users))
	errs := make([]error, len(users))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() { statuses[i], errs[i] = b.rawSend(conn, convs[i], hello) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range users {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusCreated, statuses[i])
	}
	require.GreaterOrEqual(t, elapsed, 200*ms)
	require.Less(t, elapsed, 2*time.Second, "20 requests of 200 ms each run side by side")

	b.sim.SetFaults(0, 0, 0)
	start = time.Now()
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, `{"type":"message","text":"fast"}`).status)
	require.Less(t, time.Since(start), 200*ms)
}

func TestTenantFaultHitsAnyUser(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3, InstalledFraction: 1})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convs := make([]string, len(users))
	for i, u := range users {
		convs[i] = b.sim.users(t, u.ID).conv.chatID
	}
	b.sim.InjectTenant(b.tenant, Fault{Status: 503, Times: 2})
	b.sim.Inject(b.tenant, users[1].ID, Fault{Status: 412})
	require.Equal(t, http.StatusServiceUnavailable, b.send(t, conn, convs[0], hello).status)
	require.Equal(t, http.StatusServiceUnavailable, b.send(t, conn, convs[1], hello).status, "before the user's own fault")
	require.Equal(t, http.StatusPreconditionFailed, b.send(t, conn, convs[1], hello).status)
	require.Equal(t, http.StatusCreated, b.send(t, conn, convs[2], hello).status)

	// A burst of throttling: the tenant is blocked for the Retry-After.
	b.sim.InjectTenant(b.tenant, Fault{Status: 429, Code: "Throttled", RetryAfter: time.Second})
	r := b.send(t, conn, convs[2], hello)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, convs[0], hello).status, "in flight: not a violation")
	b.clock.Advance(time.Second)
	require.Equal(t, http.StatusCreated, b.send(t, conn, convs[0], hello).status)
	l := b.sim.Ledger()
	require.EqualValues(t, 2, l.Throttled)
	require.Zero(t, l.RetryAfterViolations)

	b.sim.InjectTenant("nowhere", Fault{Status: 500}) // logged, ignored
}

func TestSlowAnswerAfterTheDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1, SlowRate: 1, SlowLatency: time.Minute}, withRealClock())
	conn := b.connectorToken(t)
	conv := b.sim.users(t, b.sim.Users(b.tenant)[0].ID).conv.chatID

	// The client gives up long before the answer: the user has the message.
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+convPath(conv), strings.NewReader(hello))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+conn)
	client := &http.Client{Timeout: 100 * ms}
	_, err = client.Do(req)
	require.Error(t, err, "timed out")
	require.Eventually(t, func() bool { return b.sim.Ledger().UnansweredDeliveries == 1 }, 10*time.Second, 10*ms)
	require.EqualValues(t, 1, b.sim.Ledger().Deliveries)

	b.sim.SetSlow(0, 0)
	require.Equal(t, http.StatusCreated, b.send(t, conn, conv, hello).status)
	l := b.sim.Ledger()
	require.EqualValues(t, 2, l.Deliveries)
	require.EqualValues(t, 1, l.Duplicates, "the retry of a timed-out send is a duplicate")
	require.EqualValues(t, 1, l.UnansweredDeliveries, "an answered delivery is not counted")
}

// TestGatewayErrorAfterDelivery: a share of the random 502s and 504s come
// after the message was delivered, as from a gateway that gave up waiting
// for Teams; the ledger counts them.
func TestGatewayErrorAfterDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 3, InstalledFraction: 1, ErrorRate: 1, GatewayDeliveredRate: 1, Seed: 3})
	conn := b.connectorToken(t)
	user := b.sim.Users(b.tenant)[0]
	conv := b.sim.users(t, user.ID).conv.chatID
	var gateway, unavailable int
	for i := range 30 {
		r := sendText(t, b, conn, conv, i)
		switch r.status {
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			gateway++
		case http.StatusServiceUnavailable:
			unavailable++
		default:
			t.Fatalf("status %d", r.status)
		}
		b.clock.Advance(time.Minute) // out of the conversation's windows
	}
	require.Positive(t, gateway)
	require.Positive(t, unavailable)
	l := b.sim.Ledger()
	require.EqualValues(t, gateway, l.DeliveredWithError, "every 502 and 504 delivered")
	require.EqualValues(t, gateway, l.Deliveries, "a 503 delivers nothing")
	require.Len(t, b.sim.UserDeliveries(b.tenant, user.ID), gateway)

	// Settable at run time, and per fault.
	b.sim.SetGatewayDelivered(0)
	before := b.sim.Ledger().Deliveries
	for i := range 10 {
		sendText(t, b, conn, conv, 100+i)
		b.clock.Advance(time.Minute)
	}
	require.Equal(t, before, b.sim.Ledger().Deliveries, "none delivered at rate 0")

	b.sim.SetFaults(0, 0, 0)
	other := b.sim.Users(b.tenant)[1]
	otherConv := b.sim.users(t, other.ID).conv.chatID
	r := b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "user": other.ID, "status": 504, "delivered": true})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = b.send(t, conn, otherConv, hello)
	require.Equal(t, http.StatusGatewayTimeout, r.status)
	require.Equal(t, "GatewayTimeout", r.errorCode(t))
	require.Len(t, b.sim.UserDeliveries(b.tenant, other.ID), 1)
	require.Equal(t, http.StatusCreated, b.send(t, conn, otherConv, hello).status, "the retry")
	l = b.sim.Ledger()
	require.EqualValues(t, gateway+1, l.DeliveredWithError)
	require.EqualValues(t, 1, l.Duplicates, "the retry of a delivered 504 is a duplicate")

	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/_sim/inject", "", map[string]any{"tenant": b.tenant, "user": other.ID, "status": 503, "delivered": true}).status)
	r = b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{"errorRate": 1, "gatewayDeliveredRate": 1})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, http.StatusBadRequest, b.do(t, http.MethodPost, "/_sim/faults", "", map[string]any{"gatewayDeliveredRate": 2}).status)
	before = b.sim.Ledger().DeliveredWithError
	for i := range 10 {
		sendText(t, b, conn, otherConv, 200+i)
		b.clock.Advance(time.Minute)
	}
	require.Greater(t, b.sim.Ledger().DeliveredWithError, before)
}
