package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

const resumeUsers = 12_000 // 12 pages of 1,000

// interrupted expands an all-users broadcast with a dispatcher that is shut
// down when it asks for page 6, and returns the broadcast's id.
func interrupted(t *testing.T, e *bundle) string {
	t.Helper()
	var r *running
	stopped := make(chan struct{})
	ids := make(chan string, 1)
	stop := func() {
		// Stop once a first page is saved: pages are read ahead of the
		// ones recorded and acked, so on a loaded machine none may be
		// saved yet when page 6 is asked for. Reading stays at most a few
		// pages ahead of the cursor, so the audience is far from done.
		id := <-ids
		deadline := time.Now().Add(30 * time.Second)
		for c, _ := e.st.ExpansionCursor(context.Background(), id); c == "" && time.Now().Before(deadline); c, _ = e.st.ExpansionCursor(context.Background(), id) {
			time.Sleep(5 * time.Millisecond)
		}
		r.stop()
		close(stopped)
	}
	// The dispatcher is shut down when it asks for page 6, while pages
	// are being recorded and published, as a crash would find it.
	d := e.dispatcher(nil)
	var pages atomic.Int64
	var once sync.Once
	d.OnPageRead(func(string) error {
		if pages.Add(1) == 6 {
			once.Do(func() { go stop() })
		}
		return nil
	})
	r = e.run(d)
	id := e.create(r.d)
	ids <- id
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the dispatcher never asked for page 6")
	}
	require.False(t, e.expanded(id), "an interrupted expansion stays registered")
	install, send := e.jobs(id)
	require.Less(t, int64(install+send), e.members(), "the first dispatcher published the whole audience")
	b, err := e.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusExpanding, b.Status)
	return id
}

// resume expands the broadcast to the end with a new dispatcher and checks
// that the stream holds exactly one job per member and the counters are
// exact. No worker consumes the stream.
func resume(t *testing.T, e *bundle, id string) {
	t.Helper()
	e.run(e.dispatcher(nil)) // Run resumes registered expansions
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(id) }, "expansion resumed and finished")
	want := e.members()
	install, send := e.jobs(id)
	require.EqualValues(t, want, install, "one install job per member")
	require.Zero(t, send, "no conversation is cached")
	b, err := e.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusSending, b.Status)
	require.Equal(t, broadcast.Counts{Total: want, Installing: want}, b.Counts)
}

func TestExpansionResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	e := setup(t, resumeUsers, testenv.Logger(t))
	id := interrupted(t, e)
	cursor, err := e.st.ExpansionCursor(context.Background(), id)
	require.NoError(t, err)
	require.NotEmpty(t, cursor, "pages before the stop were saved")
	resume(t, e, id)
}

// A dispatcher that dies after publishing pages but before saving their
// cursor redoes them: the worst case is a cursor at the start. The redone
// pages count no recipient twice and add no job to the stream.
func TestRedonePagesDuplicateNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, resumeUsers, testenv.Logger(t))
	id := interrupted(t, e)
	install, _ := e.jobs(id)
	require.NotZero(t, install, "pages were published before the stop")
	e.setMeta(id, "cursor", "")
	resume(t, e, id)
}

// Users with a cached conversation get a send job, the others an install
// job; a page the directory cannot serve stops the expansion after the pages
// before it are saved, and the next attempt goes on from there.
func TestExpansionSplitsByConversationAndSurvivesAFailedPage(t *testing.T) {
	t.Parallel()
	e := setup(t, 3000, testenv.Logger(t))
	ctx := context.Background()
	var cached int64
	var one string // a user with a cached conversation
	for i, u := range e.sim.Users(e.tenant) {
		if i%3 == 0 && u.UserType != "Guest" {
			one = strings.ToLower(u.ID)
			require.NoError(t, e.st.SetConversation(ctx, e.tenant, one, "a:conv-"+one))
			cached++
		}
	}
	d := e.dispatcher(nil)
	var pages, failed atomic.Int64
	d.OnPageRead(func(string) error { // the first request for page 3 fails
		if pages.Add(1) == 3 {
			failed.Add(1)
			return errPageFailed
		}
		return nil
	})
	r := e.run(d)
	id := e.create(r.d)
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(id) }, "expansion finished after the failed page")
	require.EqualValues(t, 1, failed.Load())

	want := e.members()
	install, send := e.jobs(id)
	require.EqualValues(t, cached, send)
	require.EqualValues(t, want-cached, install)
	b, err := e.st.Broadcast(ctx, id)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: want, Pending: cached, Installing: want - cached}, b.Counts)
	rec, err := e.st.Recipient(ctx, id, one)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatePending, rec.State)
	require.Equal(t, "a:conv-"+one, rec.ConversationID)
}

var errPageFailed = errors.New("redis: connection reset (injected)")

// aheadOf notes, at each page asked for, how many pages the expansion is
// ahead of the broadcast's saved cursor: what the pipeline holds.
type aheadOf struct {
	e        *bundle
	id       atomic.Value // the broadcast's id, once known
	mu       sync.Mutex
	index    map[string]int // cursor -> the page it starts (from 1)
	asked    int
	maxAhead int
}

func (a *aheadOf) pageRead(cursor string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked++
	a.index[cursor] = a.asked
	if id, ok := a.id.Load().(string); ok {
		saved, cerr := a.e.st.ExpansionCursor(context.Background(), id)
		if cerr == nil {
			a.maxAhead = max(a.maxAhead, a.asked-a.index[saved]+1)
		}
	}
	return nil
}

// The pipeline holds a bounded number of pages however large the audience,
// so the dispatcher's memory stays flat: reading Graph (here a simulator in
// the process, far faster than recording and publishing) never runs more
// than the pipeline's seven pages, plus the one being read, ahead of the
// saved cursor. The memory itself is measured by BenchmarkExpand and by
// the dispatcher's peak RSS (docs/ARCHITECTURE.md).
func TestExpansionReadsAFewPagesAheadAtMost(t *testing.T) {
	t.Parallel()
	e := setup(t, 40_000, testenv.Logger(t)) // 40 pages
	a := &aheadOf{e: e, index: map[string]int{}}
	d := e.dispatcher(nil)
	d.OnPageRead(a.pageRead)
	r := e.run(d)
	id := e.create(r.d)
	a.id.Store(id)
	testenv.Eventually(t, 2*time.Minute, func() bool { return e.expanded(id) }, "expansion finished")
	install, _ := e.jobs(id)
	require.EqualValues(t, e.members(), install)
	a.mu.Lock()
	defer a.mu.Unlock()
	t.Logf("pages read: %d, at most %d ahead of the saved cursor", a.asked, a.maxAhead)
	require.LessOrEqual(t, a.maxAhead, 8)
	require.Greater(t, a.maxAhead, 1, "reading overlaps recording and publishing")
}
