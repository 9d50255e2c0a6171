package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/broadcast-dev/broadcast/internal/queue"
)

// scrapeTimeout bounds a whole scrape; the queue's read gets less.
const scrapeTimeout = 10 * time.Second

// Defaults of a QueueCollector.
const (
	DefaultQueueTimeout = 3 * time.Second
	DefaultQueueCache   = 5 * time.Second
)

// QueueStats reads the queue's figures: *queue.Queue.
type QueueStats interface {
	Stats(ctx context.Context) (queue.Stats, error)
}

var _ QueueStats = (*queue.Queue)(nil)

var (
	queueMessagesDesc = prometheus.NewDesc(namespace+"_queue_messages",
		"Jobs in the JOBS stream, every stage and tenant: queued, or in a worker's hands.", nil, nil)
	queuePendingDesc = prometheus.NewDesc(namespace+"_queue_pending",
		"Jobs not yet delivered to a worker (consumer lag), by stage and tenant, summed over the broadcasts' consumers.",
		[]string{"stage", "tenant"}, nil)
	queueAckPendingDesc = prometheus.NewDesc(namespace+"_queue_ack_pending",
		"Jobs delivered and not yet acked (in a worker's hands, or waiting for redelivery), by stage and tenant.",
		[]string{"stage", "tenant"}, nil)
	queueRedeliveredDesc = prometheus.NewDesc(namespace+"_queue_redelivered",
		"Jobs not yet acked that were delivered more than once, by stage and tenant.", []string{"stage", "tenant"}, nil)
	queueConsumersDesc = prometheus.NewDesc(namespace+"_queue_consumers",
		"Broadcasts' consumers (one per broadcast and stage with work left or not yet removed), by stage and tenant.",
		[]string{"stage", "tenant"}, nil)
	queueUpDesc = prometheus.NewDesc(namespace+"_queue_up",
		"1 if the last read of the queue's figures succeeded, 0 if it failed (the figures are then absent).", nil, nil)
)

// QueueCollector reports the queue's depth and its consumers' lag, read
// from JetStream when scraped. A read is bounded by Timeout, and its
// result kept for Cache, so that a storm of scrapes (several Prometheus
// servers, a dashboard's refresh) costs JetStream one read per Cache.
// Concurrent scrapes share one read.
type QueueCollector struct {
	q       QueueStats
	timeout time.Duration
	cache   time.Duration
	now     func() time.Time

	mu    sync.Mutex
	at    time.Time
	stats queue.Stats
	err   error
}

var _ prometheus.Collector = (*QueueCollector)(nil)

// NewQueueCollector returns a collector of q's figures; zero durations take
// the defaults.
func NewQueueCollector(q QueueStats, timeout, cache time.Duration) *QueueCollector {
	if timeout <= 0 {
		timeout = DefaultQueueTimeout
	}
	if cache <= 0 {
		cache = DefaultQueueCache
	}
	return &QueueCollector{q: q, timeout: timeout, cache: cache, now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueMessagesDesc, queuePendingDesc, queueAckPendingDesc, queueRedeliveredDesc, queueConsumersDesc, queueUpDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.read()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(stats.Messages))
	for k, b := range stats.Backlogs {
		stage, tenant := string(k.Stage), k.Tenant
		ch <- prometheus.MustNewConstMetric(queuePendingDesc, prometheus.GaugeValue, float64(b.Pending), stage, tenant)
		ch <- prometheus.MustNewConstMetric(queueAckPendingDesc, prometheus.GaugeValue, float64(b.AckPending), stage, tenant)
		ch <- prometheus.MustNewConstMetric(queueRedeliveredDesc, prometheus.GaugeValue, float64(b.Redelivered), stage, tenant)
		ch <- prometheus.MustNewConstMetric(queueConsumersDesc, prometheus.GaugeValue, float64(b.Consumers), stage, tenant)
	}
}

// read returns the figures, read again when the cached ones are older than
// Cache. A failed read is cached too: an unreachable NATS is not asked
// again by every scrape.
func (c *QueueCollector) read() (queue.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.cache {
		return c.stats, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.stats, c.err = c.q.Stats(ctx)
	c.at = c.now()
	return c.stats, c.err
}
