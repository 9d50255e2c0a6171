package teamsim

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRealisticProfile(t *testing.T) {
	t.Parallel()
	c := Config{}.Realistic()
	require.Equal(t, 50*ms, c.Latency)
	require.Equal(t, 100*ms, c.LatencyJitter, "100 ms ±50%")
	require.Equal(t, 3*ms, c.NetworkJitter)
	require.Equal(t, 2*time.Second, c.ChatReadyDelay)
	require.Equal(t, 2*time.Second, c.ChatReadyJitter, "the chat exists 2 to 4 s after an install")

	zero := Config{BotAppID: "a", BotAppPassword: "b", TeamsAppID: "c"}.withDefaults()
	require.Zero(t, zero.Latency, "the zero value stays fast")
	require.Zero(t, zero.LatencyJitter)
	require.Zero(t, zero.NetworkJitter)
	require.Zero(t, zero.ChatReadyDelay+zero.ChatReadyJitter)
	require.Equal(t, 5*ms, zero.RetryAfterTolerance)
}

// TestViolationAfterThe429Left: a request that reaches a blocked scope
// more than RetryAfterTolerance after the 429 that blocked it left the
// simulator is a violation; before, it was in flight.
func TestViolationAfterThe429Left(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 4, InstalledFraction: 1, ConnectorRPS: 1, Latency: 50 * ms})
	conn := b.connectorToken(t)
	convs := make([]string, 4)
	for i, u := range b.sim.Users(b.tenant) {
		convs[i] = b.sim.users(t, u.ID).conv.chatID
	}
	require.Equal(t, http.StatusCreated, sendText(t, b, conn, convs[0], 0).status)
	require.Equal(t, http.StatusTooManyRequests, sendText(t, b, conn, convs[1], 1).status, "sets the block; leaves 50 ms later")

	b.clock.Advance(50*ms + DefaultRetryAfterTolerance)
	require.Equal(t, http.StatusTooManyRequests, sendText(t, b, conn, convs[2], 2).status)
	require.Zero(t, b.sim.Ledger().RetryAfterViolations, "within the tolerance of the 429's departure: in flight")

	b.clock.Advance(ms)
	require.Equal(t, http.StatusTooManyRequests, sendText(t, b, conn, convs[3], 3).status)
	require.EqualValues(t, 1, b.sim.Ledger().RetryAfterViolations, "sent after the client had the 429")

	// Graph too, with its own answer latency.
	g := setup(t, Config{UsersPerTenant: 3, GraphRPS: 1, RetryAfterTolerance: 20 * ms})
	graph := g.graphToken(t)
	path := "/graph/v1.0/users/" + g.sim.Users(g.tenant)[0].ID + "/teamwork/installedApps"
	require.Equal(t, http.StatusOK, g.do(t, http.MethodGet, path, graph, nil).status)
	require.Equal(t, http.StatusTooManyRequests, g.do(t, http.MethodGet, path, graph, nil).status)
	g.clock.Advance(20 * ms)
	require.Equal(t, http.StatusTooManyRequests, g.do(t, http.MethodGet, path, graph, nil).status)
	require.Zero(t, g.sim.Ledger().RetryAfterViolations)
	g.clock.Advance(ms)
	require.Equal(t, http.StatusTooManyRequests, g.do(t, http.MethodGet, path, graph, nil).status)
	require.EqualValues(t, 1, g.sim.Ledger().RetryAfterViolations)
}

// TestInjected429LeavesWithItsLatency: an injected 429's block is judged
// from its own departure as well.
func TestInjected429LeavesWithItsLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1, Latency: 30 * ms})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convA, convB := b.sim.users(t, users[0].ID).conv.chatID, b.sim.users(t, users[1].ID).conv.chatID
	b.sim.InjectTenant(b.tenant, Fault{Status: 429, RetryAfter: time.Second})
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, convA, hello).status)
	b.clock.Advance(30*ms + DefaultRetryAfterTolerance)
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, convB, hello).status)
	require.Zero(t, b.sim.Ledger().RetryAfterViolations)
	b.clock.Advance(ms)
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, convB, hello).status)
	require.EqualValues(t, 1, b.sim.Ledger().RetryAfterViolations)
}

// TestJudgedBeforeTheLatency: the window counts a request when it arrives,
// not when its answer leaves.
func TestJudgedBeforeTheLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UsersPerTenant: 2, InstalledFraction: 1, ConnectorRPS: 1, Latency: 300 * ms})
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convA, convB := b.sim.users(t, users[0].ID).conv.chatID, b.sim.users(t, users[1].ID).conv.chatID
	first := make(chan int, 1)
	go func() {
		status, _ := b.rawSend(conn, convA, hello)
		first <- status
	}()
	require.Eventually(t, func() bool { return b.sim.Ledger().Deliveries == 1 }, 10*time.Second, ms,
		"the first send is judged and delivered before its answer leaves")
	require.Equal(t, http.StatusTooManyRequests, b.send(t, conn, convB, hello).status,
		"judged while the first answer is still on its way")
	require.Equal(t, http.StatusCreated, <-first)
}

// TestNetworkJitterCatchesPacingAtTheLimit: a client that paces just
// under the limit, with less margin than the network's jitter, gets 429s:
// requests are counted in the order they arrive.
func TestNetworkJitterCatchesPacingAtTheLimit(t *testing.T) {
	t.Parallel()
	const rps, sends = 20, 40
	b := setup(t, Config{UsersPerTenant: sends, InstalledFraction: 1, ConnectorRPS: rps, NetworkJitter: 40 * ms}, withRealClock())
	conn := b.connectorToken(t)
	convs := make([]string, sends)
	for i, u := range b.sim.Users(b.tenant) {
		convs[i] = b.sim.users(t, u.ID).conv.chatID
	}
	// rps requests every 1.005 s: 5 ms of margin per window, each request
	// sent at its own time whatever the answers.
	gap := (time.Second + 5*ms) / rps
	start := time.Now().Add(20 * ms)
	var throttled atomic.Int64
	var wg sync.WaitGroup
	for i := range sends {
		wg.Go(func() {
			time.Sleep(time.Until(start.Add(time.Duration(i) * gap)))
			if status, err := b.rawSend(conn, convs[i], `{"type":"message","text":"paced `+strconv.Itoa(i)+`"}`); err == nil && status == http.StatusTooManyRequests {
				throttled.Add(1)
			}
		})
	}
	wg.Wait()
	require.Positive(t, throttled.Load(), "arrivals reordered by up to 40 ms break a 5 ms margin")
}
