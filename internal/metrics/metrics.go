package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of the project.
const namespace = "broadcast"

// Registry holds the process's collectors: the package's, the Go runtime's
// and the process's (CPU, memory, file descriptors).
var Registry = prometheus.NewRegistry()

var factory = maker{Registry}

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Handler serves the metrics of Registry and of extra gatherers (such as a
// registry holding a QueueCollector) in Prometheus's text format.
func Handler(extra ...prometheus.Gatherer) http.Handler {
	g := prometheus.Gatherers{Registry}
	g = append(g, extra...)
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: scrapeTimeout})
}

// Status is the label of an HTTP status code; 0 (no answer: a timeout, a
// refused connection) is "none".
func Status(code int) string {
	if code == 0 {
		return "none"
	}
	return strconv.Itoa(code)
}

// Latency buckets, in seconds: an external call takes from about 10 ms to
// its timeout (15 s by default, 30 s at most).
var callBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30}

// maker creates collectors registered in one registry.
type maker struct{ r prometheus.Registerer }

func (m maker) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	m.r.MustRegister(c)
	return c
}

func (m maker) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	m.r.MustRegister(g)
	return g
}

func (m maker) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	m.r.MustRegister(h)
	return h
}
