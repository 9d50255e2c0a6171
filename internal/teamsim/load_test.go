package teamsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWindowHoldsUnderLoad hammers one tenant from many goroutines and
// checks, from the sim's own delivery times, that no sliding second ever
// held more than ConnectorRPS accepted calls, and that the ledger adds up.
func TestWindowHoldsUnderLoad(t *testing.T) {
	t.Parallel()
	const rps = 150
	b := setup(t, Config{UsersPerTenant: 300, InstalledFraction: 1, ConnectorRPS: rps}, withRealClock())
	conn := b.connectorToken(t)
	users := b.sim.Users(b.tenant)
	convs := make([]string, len(users))
	for i, u := range users {
		convs[i] = b.sim.users(t, u.ID).conv.chatID
	}

	var sent, created, throttled, other atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(1500 * time.Millisecond)
	for g := range 32 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				status, err := b.rawSend(conn, convs[(g*37+i)%len(convs)], `{"type":"message","text":"load `+strconv.Itoa(g)+`/`+strconv.Itoa(i)+`"}`)
				sent.Add(1)
				switch {
				case err != nil:
					other.Add(1)
				case status == http.StatusCreated:
					created.Add(1)
				case status == http.StatusTooManyRequests:
					throttled.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, other.Load())
	require.Positive(t, throttled.Load())

	var times []time.Time
	for _, u := range users {
		for _, d := range b.sim.UserDeliveries(b.tenant, u.ID) {
			times = append(times, d.At)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 0; i+rps < len(times); i++ {
		require.GreaterOrEqual(t, times[i+rps].Sub(times[i]), time.Second, "more than %d accepted within one second", rps)
	}

	l := b.sim.Ledger()
	require.EqualValues(t, created.Load(), l.Deliveries)
	require.EqualValues(t, len(times), l.Deliveries)
	require.EqualValues(t, throttled.Load(), l.Throttled)
	require.EqualValues(t, sent.Load(), l.Requests[KindConnectorSend])
	require.EqualValues(t, sent.Load(), l.Status[http.StatusCreated]+l.Status[http.StatusTooManyRequests])
	require.Zero(t, l.Duplicates)
}

// BenchmarkSend measures sends through the full HTTP stack, spread over
// many conversations of one tenant.
func BenchmarkSend(b *testing.B) {
	sim, err := New(Config{Tenants: []string{testTenant}, UsersPerTenant: 10_000, InstalledFraction: 1,
		BotAppID: testBotAppID, BotAppPassword: testBotSecret, TeamsAppID: testTeamsAppID, ConversationLimits: true})
	require.NoError(b, err)
	tb := &testBundle{sim: sim, tenant: testTenant, srv: httptest.NewServer(sim.Handler())}
	defer tb.srv.Close()
	tb.srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	resp, err := tb.srv.Client().PostForm(tb.srv.URL+"/login/botframework.com/oauth2/v2.0/token", credentials(ScopeConnector))
	require.NoError(b, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&tok))
	_ = resp.Body.Close()
	conn := tok.AccessToken
	var convs []string
	for _, t := range sim.order {
		for _, u := range t.users {
			convs = append(convs, u.conv.chatID)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			status, err := tb.rawSend(conn, convs[int(i)%len(convs)], `{"type":"message","text":"benchmark `+strconv.FormatInt(i, 10)+`"}`)
			if err != nil || (status != http.StatusCreated && status != http.StatusTooManyRequests) {
				b.Fatalf("send: %d %v", status, err)
			}
		}
	})
}

// BenchmarkAdmit measures the limiter alone, contended on one tenant.
func BenchmarkAdmit(b *testing.B) {
	tenant := newLimiter(perSecond(100_000))
	start := time.Now()
	clock := func() time.Duration { return time.Since(start) }
	b.RunParallel(func(pb *testing.PB) {
		conv := newLimiter(conversationWindows)
		for pb.Next() {
			admit(clock, nil, 0, false, tenant, conv)
		}
	})
}
