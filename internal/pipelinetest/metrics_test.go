package pipelinetest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/service"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A real broadcast, scraped through the ops listener's handler before,
// during and after: the send counters move by the number of recipients,
// the Connector's latency histogram by at least as many calls, the queue's
// depth is reported while jobs wait and drops to nothing, and the
// expansion's counters reach the audience's size. Counters are process
// wide and other tests run beside this one: every figure is read for this
// test's own tenant, or as a lower bound.
func TestMetricsMoveDuringABroadcast(t *testing.T) {
	t.Parallel()
	const users = 150
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: users, InstalledFraction: 0.7, BlockedFraction: 0.05, ConnectorRPS: 1000, GraphRPS: 1000, Seed: 61,
	}, TenantRPS: 60}) // paced, so that the broadcast is seen half-way
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	ops := httptest.NewServer(service.OpsHandler(e.NATS, rdb, metrics.NewQueueCollector(e.Queue, 2*time.Second, 20*time.Millisecond)))
	t.Cleanup(ops.Close)

	scrape := func() metrics.Families {
		t.Helper()
		resp, err := http.Get(ops.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		f, err := metrics.Parse(resp.Body)
		require.NoError(t, err)
		return f
	}
	tenant := map[string]string{"tenant": e.Tenant}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range tenant {
			m[k] = v
		}
		return m
	}
	val := func(f metrics.Families, name string, labels map[string]string) float64 {
		v, _ := f.Sum(name, labels)
		return v
	}
	resp, err := http.Get(ops.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	before := scrape()
	require.Zero(t, val(before, "broadcast_sends_total", tenant))
	sendCalls := val(before, "broadcast_connector_request_duration_seconds", map[string]string{"operation": "send"})

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "metrics"}, Audience: broadcast.Audience{AllUsers: true}})

	// During: sends counted while jobs still wait in the queue.
	var during metrics.Families
	testenv.Eventually(t, time.Minute, func() bool {
		during = scrape()
		depth := val(during, "broadcast_queue_pending", tenant) + val(during, "broadcast_queue_ack_pending", tenant)
		return val(during, "broadcast_sends_total", tenant) > 0 && depth > 0
	}, "sends counted while the queue holds the tenant's jobs")
	_, reported := during.Sum("broadcast_queue_pending", with("stage", string(broadcast.StageSend)))
	require.True(t, reported, "the send stage's depth is reported for the tenant")
	require.Equal(t, 1.0, val(during, "broadcast_queue_up", nil))

	b = e.WaitCompleted(b.ID, 2*time.Minute)
	c := b.Counts
	require.Positive(t, c.Blocked)
	// The sender counts a send once its record is written: the last
	// may come a moment after the broadcast completed.
	var after metrics.Families
	testenv.Eventually(t, 10*time.Second, func() bool {
		after = scrape()
		return val(after, "broadcast_sends_total", with("outcome", metrics.OutcomeSent)) >= float64(c.Sent)
	}, "every send counted")
	require.Equal(t, float64(c.Sent), val(after, "broadcast_sends_total", with("outcome", metrics.OutcomeSent)))
	require.Equal(t, float64(c.Blocked), val(after, "broadcast_sends_total", with("outcome", metrics.OutcomeBlocked)))
	require.GreaterOrEqual(t, val(after, "broadcast_sends_total", tenant), float64(c.Total), "one send at least per recipient")
	require.Less(t, val(during, "broadcast_sends_total", with("outcome", metrics.OutcomeSent)), float64(c.Sent), "the figures moved after the first scrape")
	require.GreaterOrEqual(t, val(after, "broadcast_connector_request_duration_seconds", map[string]string{"operation": "send"}), sendCalls+float64(c.Total))

	// A new tenant's conversations are unknown: every recipient went
	// through the installer, which installed the app for those without it.
	installed := val(after, "broadcast_installs_total", with("outcome", metrics.InstallInstalled))
	already := val(after, "broadcast_installs_total", with("outcome", metrics.InstallAlreadyInstalled))
	require.Positive(t, installed)
	require.Positive(t, already)
	require.Equal(t, float64(c.Total), installed+already)

	// The expansion reached the audience's size.
	require.Equal(t, float64(c.Total), val(after, "broadcast_expansion_audience_resolved_total", tenant))
	require.Equal(t, float64(c.Total), val(after, "broadcast_expansion_recipients_total", tenant))
	require.Equal(t, float64(c.Total), val(after, "broadcast_expansion_jobs_published_total", tenant))
	require.Equal(t, 1.0, val(after, "broadcast_expansions_completed_total", tenant))

	// The tenant's rate is reported; its queue drains to nothing.
	require.Equal(t, 60.0, val(after, "broadcast_tenant_rate_rps", tenant))
	testenv.Eventually(t, 30*time.Second, func() bool {
		f := scrape()
		return val(f, "broadcast_queue_pending", tenant)+val(f, "broadcast_queue_ack_pending", tenant) == 0
	}, "the tenant's queue drains")
}
