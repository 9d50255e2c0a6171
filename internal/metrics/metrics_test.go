package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	f, err := metrics.Gather(metrics.Registry)
	require.NoError(t, err)
	v, _ := f.Sum(name, labels)
	return v
}

func TestOutcomesAreCountedWithTheirLabels(t *testing.T) {
	tenant := testenv.FreeTenant(t)
	metrics.Send(tenant, metrics.OutcomeSent, 0)
	metrics.Send(tenant, metrics.OutcomeSent, 201)
	metrics.Send(tenant, metrics.OutcomeThrottled, 429)
	metrics.Send(tenant, metrics.OutcomeRetried, 0)
	metrics.Change(tenant, "edit", metrics.OutcomeDone, 0)
	metrics.Change(tenant, "recall", metrics.OutcomeSkipped, 404)
	metrics.Install(tenant, metrics.InstallInstalled, metrics.RouteGraph, "")
	metrics.Install(tenant, metrics.InstallFailed, "", string(broadcast.ReasonUserNotFound))

	require.Equal(t, 2.0, value(t, "broadcast_sends_total", map[string]string{"tenant": tenant, "outcome": "sent", "status": "2xx"}))
	require.Equal(t, 1.0, value(t, "broadcast_sends_total", map[string]string{"tenant": tenant, "outcome": "throttled", "status": "429"}))
	require.Equal(t, 1.0, value(t, "broadcast_sends_total", map[string]string{"tenant": tenant, "outcome": "retried", "status": "none"}))
	require.Equal(t, 1.0, value(t, "broadcast_changes_total", map[string]string{"tenant": tenant, "operation": "edit", "outcome": "done", "status": "2xx"}))
	require.Equal(t, 1.0, value(t, "broadcast_changes_total", map[string]string{"tenant": tenant, "operation": "recall", "status": "404"}))
	require.Equal(t, 1.0, value(t, "broadcast_installs_total", map[string]string{"tenant": tenant, "outcome": "installed", "route": "graph"}))
	require.Equal(t, 1.0, value(t, "broadcast_installs_total", map[string]string{"tenant": tenant, "outcome": "failed", "reason": "user_not_found"}))

	before := value(t, "broadcast_connector_request_duration_seconds", map[string]string{"operation": "send"})
	metrics.ConnectorCall(metrics.OpSend, 30*time.Millisecond)
	require.Equal(t, before+1, value(t, "broadcast_connector_request_duration_seconds", map[string]string{"operation": "send"}))
}

func TestExpansionProgress(t *testing.T) {
	tenant := testenv.FreeTenant(t)
	running := value(t, "broadcast_expansions_running", nil)
	stopped := metrics.ExpansionStarted(tenant)
	require.Equal(t, running+1, value(t, "broadcast_expansions_running", nil))
	metrics.AudienceResolved(tenant, 250)
	metrics.RecipientsRecorded(tenant, 100)
	metrics.JobsPublished(tenant, "send", 70)
	metrics.JobsPublished(tenant, "install", 30)
	stopped(true)
	require.Equal(t, running, value(t, "broadcast_expansions_running", nil))
	labels := map[string]string{"tenant": tenant}
	require.Equal(t, 250.0, value(t, "broadcast_expansion_audience_resolved_total", labels))
	require.Equal(t, 100.0, value(t, "broadcast_expansion_recipients_total", labels))
	require.Equal(t, 100.0, value(t, "broadcast_expansion_jobs_published_total", labels))
	require.Equal(t, 1.0, value(t, "broadcast_expansions_completed_total", labels))
}

// Requests are labelled by the route pattern that served them, never by
// their path: every broadcast id lands in one series.
func TestAPIRequestsAreLabelledByRoutePattern(t *testing.T) {
	mux := http.NewServeMux()
	route := "GET /test-" + uuid.NewString()[:8] + "/{id}"
	mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	srv := httptest.NewServer(metrics.InstrumentHTTP(mux, nil))
	defer srv.Close()
	path := strings.TrimPrefix(strings.TrimSuffix(route, "/{id}"), "GET ")
	for _, id := range []string{"a", "b", "c", "missing"} {
		resp, err := http.Get(srv.URL + path + "/" + id)
		require.NoError(t, err)
		resp.Body.Close()
	}
	unmatched := value(t, "broadcast_api_requests_total", map[string]string{"route": "unmatched", "code": "404"})
	resp, err := http.Get(srv.URL + "/nowhere/" + uuid.NewString())
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, 3.0, value(t, "broadcast_api_requests_total", map[string]string{"route": route, "code": "200"}))
	require.Equal(t, 1.0, value(t, "broadcast_api_requests_total", map[string]string{"route": route, "code": "404"}))
	require.Equal(t, 4.0, value(t, "broadcast_api_request_duration_seconds", map[string]string{"route": route}))
	require.Equal(t, unmatched+1, value(t, "broadcast_api_requests_total", map[string]string{"route": "unmatched", "code": "404"}))
	f, err := metrics.Gather(metrics.Registry)
	require.NoError(t, err)
	for _, m := range f["broadcast_api_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			require.NotContains(t, l.GetValue(), "/a", "a raw path became a label")
		}
	}
}

// countingQueue is the real queue, counting its reads.
type countingQueue struct {
	*queue.Queue
	reads atomic.Int64
}

func (c *countingQueue) Stats(ctx context.Context) (queue.Stats, error) {
	c.reads.Add(1)
	return c.Queue.Stats(ctx)
}

// The queue's depth per stage and tenant, summed over the broadcasts'
// consumers, read from JetStream on scrape and cached.
func TestQueueDepthPerStageAndTenant(t *testing.T) {
	ctx := context.Background()
	_, js, err := queue.Connect(ctx, testenv.NATS(t), t.Name(), zap.NewNop())
	require.NoError(t, err)
	q := queue.New(js, "m"+strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
	require.NoError(t, q.Setup(ctx))
	t.Cleanup(func() { _ = q.Delete(context.Background()) })

	tenantA, tenantB := testenv.FreeTenant(t), testenv.FreeTenant(t)
	var items []queue.Item
	for i, b := range []struct {
		tenant string
		send   int
	}{{tenantA, 3}, {tenantA, 2}, {tenantB, 4}} {
		id := uuid.NewString()
		require.NoError(t, q.EnsureConsumers(ctx, b.tenant, id, broadcast.PriorityNormal))
		for u := range b.send {
			items = append(items, queue.Item{Stage: broadcast.StageSend, Job: broadcast.Job{BroadcastID: id, TenantID: b.tenant, UserID: uuid.NewString()}})
			if i == 2 && u == 0 {
				items = append(items, queue.Item{Stage: broadcast.StageInstall, Job: broadcast.Job{BroadcastID: id, TenantID: b.tenant, UserID: uuid.NewString()}})
			}
		}
	}
	require.NoError(t, q.PublishBatch(ctx, items))

	cq := &countingQueue{Queue: q}
	c := metrics.NewQueueCollector(cq, time.Second, time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	f, err := metrics.Gather(reg)
	require.NoError(t, err)
	sum := func(name string, labels map[string]string) float64 { v, _ := f.Sum(name, labels); return v }
	require.Equal(t, 1.0, sum("broadcast_queue_up", nil))
	require.Equal(t, float64(len(items)), sum("broadcast_queue_messages", nil))
	require.Equal(t, 5.0, sum("broadcast_queue_pending", map[string]string{"stage": "send", "tenant": tenantA}))
	require.Equal(t, 4.0, sum("broadcast_queue_pending", map[string]string{"stage": "send", "tenant": tenantB}))
	require.Equal(t, 1.0, sum("broadcast_queue_pending", map[string]string{"stage": "install", "tenant": tenantB}))
	require.Equal(t, 0.0, sum("broadcast_queue_ack_pending", nil))
	require.Equal(t, 2.0, sum("broadcast_queue_consumers", map[string]string{"stage": "send", "tenant": tenantA}))

	// A storm of scrapes costs one read while the cache holds.
	for range 20 {
		_, err := reg.Gather()
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, cq.reads.Load())
	require.Equal(t, 1, testutil.CollectAndCount(c, "broadcast_queue_up"))
}
