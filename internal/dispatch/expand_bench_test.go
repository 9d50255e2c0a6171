package dispatch_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// BenchmarkExpand expands an all-users broadcast of EXPAND_USERS users
// (default 100,000) from the simulator's Graph pages into the stream, and
// reports the time to enqueue everything and the peak heap growth of the
// process while doing it. The simulator's population is built before the
// measurement; with NATS_URL set, the NATS server is outside the process
// too, so the heap is the dispatcher's (plus the simulator's page buffers).
//
//	NATS_URL=nats://127.0.0.1:14222 EXPAND_USERS=1000000 \
//	  go test -run '^$' -bench BenchmarkExpand -benchtime 1x ./internal/dispatch/
func BenchmarkExpand(b *testing.B) {
	users := 100_000
	if v := os.Getenv("EXPAND_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("EXPAND_USERS: %v", err)
		}
		users = n
	}
	e := setup(b, users, zap.NewNop())
	want := e.members()
	r := e.run(e.dispatcher(nil))
	b.ResetTimer()
	for range b.N {
		h := startHeapPeak(10 * time.Millisecond)
		start := time.Now()
		id := e.create(r.d)
		testenv.Eventually(b, 10*time.Minute, func() bool { return e.expanded(id) }, "expansion of %d users", users)
		took := time.Since(start)
		growth, live := h.growth()
		b.StopTimer()
		install, send := e.jobs(id)
		if int64(install+send) != want {
			b.Fatalf("%d install and %d send jobs for %d members", install, send, want)
		}
		e.forget(id)
		b.ReportMetric(took.Seconds(), "s/expansion")
		b.ReportMetric(float64(want)/took.Seconds(), "recipients/s")
		b.ReportMetric(float64(growth)/(1<<20), "peak-heap-growth-MB")
		b.ReportMetric(float64(live)/(1<<20), "peak-live-heap-growth-MB")
		b.StartTimer()
	}
}
