package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// progress is what a broadcast's live feed sends: its counters, the rate
// recipients reach a final state at, and the time left at that rate.
type progress struct {
	Status       broadcast.Status `json:"status"`
	Counts       broadcast.Counts `json:"counts"`
	AudienceSize *int64           `json:"audienceSize,omitempty"`
	// Rate is recipients finished per second over the last rateWindow.
	Rate float64 `json:"rate"`
	// ETASeconds is the time left at Rate, ETA the same for people ("3 min
	// 05 s"); absent while it is unknown.
	ETASeconds *int64 `json:"etaSeconds,omitempty"`
	ETA        string `json:"eta,omitempty"`
	// Edit and Recall are the progress of the message's changes.
	Edit   *broadcast.ChangeProgress `json:"edit,omitempty"`
	Recall *broadcast.ChangeProgress `json:"recall,omitempty"`
	// Deliveries and Reads are the series the page charts (the feed's
	// only; a page renders its own).
	Deliveries *store.DeliverySeries `json:"deliveries,omitempty"`
	Reads      *engage.Series        `json:"reads,omitempty"`
	// Final: the broadcast has ended, and so have its edit and recall;
	// the feed sends nothing after it.
	Final bool `json:"final"`
}

// timeLeft says s seconds to the minute after the first hour.
func timeLeft(s int64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %02d min", s/3600, s%3600/60)
}

func changeDone(p *broadcast.ChangeProgress) bool {
	return p == nil || p.Status == broadcast.ChangeCompleted
}

// rateWindow is the span of samples the rate is measured over.
const rateWindow = 10 * time.Second

type sample struct {
	at   time.Time
	done int64
}

// progressOf computes the progress of b, given the samples before it
// (oldest first, within rateWindow); it returns them with b's added.
func progressOf(b *broadcast.Broadcast, at time.Time, samples []sample) (progress, []sample) {
	p := progress{Status: b.Status, Counts: b.Counts, AudienceSize: b.AudienceSize, Edit: b.Edit, Recall: b.Recall,
		Final: b.CompletedAt != nil && changeDone(b.Edit) && changeDone(b.Recall)}
	samples = append(samples, sample{at: at, done: b.Counts.Done()})
	for len(samples) > 2 && at.Sub(samples[0].at) > rateWindow {
		samples = samples[1:]
	}
	first := samples[0]
	if dt := at.Sub(first.at).Seconds(); dt > 0 {
		p.Rate = math.Round(float64(b.Counts.Done()-first.done)/dt*10) / 10
	}
	total := b.Counts.Total
	if b.AudienceSize != nil && *b.AudienceSize > total {
		total = *b.AudienceSize
	}
	if left := total - b.Counts.Done(); !p.Final && p.Rate > 0 && left >= 0 {
		eta := int64(math.Ceil(float64(left) / p.Rate))
		p.ETASeconds, p.ETA = &eta, timeLeft(eta)
	}
	return p, samples
}

// hub runs one poller per watched broadcast, whatever the number of
// people watching it: the poller reads the counters every interval and
// hands each watcher the latest (a slow watcher skips values, never
// holds the others back). The last watcher to leave stops it.
type hub struct {
	st    *store.Store
	eng   *engage.Store
	every time.Duration
	log   *zap.Logger
	reads atomic.Int64 // counter reads, for tests

	mu     sync.Mutex
	feeds  map[string]*feed
	closed bool
	done   chan struct{} // closed by close: every stream ends
	wg     sync.WaitGroup
}

type feed struct {
	subs map[chan progress]struct{}
	last *progress
	stop context.CancelFunc
}

func newHub(st *store.Store, every time.Duration, log *zap.Logger) *hub {
	return &hub{st: st, eng: engage.New(st.Client(), st.Keyspace), every: every, log: log, feeds: map[string]*feed{}, done: make(chan struct{})}
}

// subscribe returns the feed of broadcast id and the func that leaves
// it; ok is false once the hub is closed.
func (h *hub) subscribe(id string) (ch <-chan progress, leave func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, false
	}
	f := h.feeds[id]
	if f == nil {
		ctx, stop := context.WithCancel(context.Background())
		f = &feed{subs: map[chan progress]struct{}{}, stop: stop}
		h.feeds[id] = f
		h.wg.Add(1)
		go h.poll(ctx, id, f)
	}
	c := make(chan progress, 1)
	f.subs[c] = struct{}{}
	if f.last != nil {
		c <- *f.last
	}
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(f.subs, c)
		if len(f.subs) == 0 && h.feeds[id] == f {
			delete(h.feeds, id)
			f.stop()
		}
	}, true
}

// readTimeout bounds one read of a broadcast's counters.
const readTimeout = 3 * time.Second

func (h *hub) poll(ctx context.Context, id string, f *feed) {
	defer h.wg.Done()
	t := time.NewTicker(h.every)
	defer t.Stop()
	var samples []sample
	for {
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		b, err := h.st.Broadcast(rctx, id)
		var p progress
		if err == nil {
			p, samples = progressOf(b, time.Now(), samples)
			err = h.readSeries(rctx, b, &p)
		}
		cancel()
		h.reads.Add(1)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			h.log.Warn("live progress: broadcast not read", zap.String("broadcast_id", id), zap.Error(err))
		default:
			h.publish(f, p)
			if p.Final {
				return // its watchers get the final value and end their streams
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readSeries adds b's series to p: two reads, whatever the number of
// people watching.
func (h *hub) readSeries(ctx context.Context, b *broadcast.Broadcast, p *progress) error {
	since := b.CreatedAt
	if b.StartedAt != nil {
		since = *b.StartedAt
	}
	d, err := h.st.Deliveries(ctx, b.ID, since)
	if err != nil {
		return err
	}
	r, err := h.eng.Series(ctx, b.ID, since)
	if err != nil {
		return err
	}
	p.Deliveries, p.Reads = &d, &r
	return nil
}

// publish hands p to every watcher of f, replacing a value not yet taken.
func (h *hub) publish(f *feed, p progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.last = &p
	for c := range f.subs {
		select {
		case <-c:
		default:
		}
		c <- p
	}
}

// watching is the number of broadcasts polled now.
func (h *hub) watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.feeds)
}

// close stops every poller and ends every stream, and waits for the pollers.
func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for _, f := range h.feeds {
			f.stop()
		}
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// keepAlive is how often an idle stream sends a comment, so that proxies
// keep it open; streamWrite bounds each write to a watcher.
const (
	keepAlive   = 15 * time.Second
	streamWrite = 10 * time.Second
)

// liveFeed streams a broadcast's progress as server-sent events
// ("progress", then "done" once it has ended). Reading the broadcast
// through the API first applies the API's rules (a viewer may; 404).
func (c *Console) liveFeed(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts/"+id, nil, nil, "", nil); e != nil {
		c.apiFailed(w, r, s, e)
		return
	}
	ch, leave, ok := c.live.subscribe(id)
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer leave()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWrite))
		if _, err := w.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 5000\n\n") {
		return
	}
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.live.done:
			return
		case <-ping.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case p := <-ch:
			b, _ := json.Marshal(p)
			if !write("event: progress\ndata: " + string(b) + "\n\n") {
				return
			}
			if p.Final {
				write("event: done\ndata: {}\n\n")
				return
			}
		}
	}
}
