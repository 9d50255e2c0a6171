package dispatch_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// published counts every job published to the tenant's install subjects,
// per recipient, as NATS delivers them to a plain subscriber: also those the
// stream drops as duplicates, so a job published twice counts twice.
type published struct {
	mu     sync.Mutex
	counts map[string]int // broadcast|user -> publishes
}

func (b *bundle) countPublishes() *published {
	b.t.Helper()
	p := &published{counts: map[string]int{}}
	subj := b.q.Subject(broadcast.StageInstall, broadcast.Job{TenantID: b.tenant, BroadcastID: "*"})
	sub, err := b.nc.Subscribe(subj, func(m *nats.Msg) {
		j, err := broadcast.DecodeJob(m.Data)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.counts[j.BroadcastID+"|"+j.UserID]++
		p.mu.Unlock()
	})
	require.NoError(b.t, err)
	require.NoError(b.t, sub.SetPendingLimits(-1, -1))
	b.t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(b.t, b.nc.Flush())
	return p
}

// check returns how many recipients got a job and how many got more than one.
func (p *published) check(b *bundle) (recipients, twice int) {
	require.NoError(b.t, b.nc.Flush()) // publishes before this point are delivered
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.counts {
		recipients++
		if n > 1 {
			twice++
		}
	}
	return recipients, twice
}

func (b *bundle) leased(lease time.Duration) *dispatch.Dispatcher {
	return dispatch.New(dispatch.Config{Tenants: []string{b.tenant}, ResumeEvery: 50 * time.Millisecond, ExpansionLease: lease},
		b.st, b.q, func(tenant string) (dispatch.Users, error) { return b.graphs.For(tenant) }, b.log)
}

// Three dispatchers resume the same broadcast (each looks every 50 ms) while
// it expands: one holds its lease and expands it, and each recipient's job
// is published once, not once per dispatcher.
func TestThreeDispatchersPublishEachJobOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 8000, testenv.Logger(t))
	pubs := e.countPublishes()
	rs := []*running{e.run(e.dispatcher(nil)), e.run(e.dispatcher(nil)), e.run(e.dispatcher(nil))}
	id := e.create(rs[0].d)
	testenv.Eventually(t, 2*time.Minute, func() bool { return e.expanded(id) }, "expansion finished")
	want := e.members()
	install, _ := e.jobs(id)
	require.EqualValues(t, want, install, "one job per member in the stream")
	recipients, twice := pubs.check(e)
	require.EqualValues(t, want, recipients)
	require.Zero(t, twice, "recipients whose job was published more than once")
	b, err := e.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: want, Installing: want}, b.Counts)
}

// A holder that freezes (no renewal, no progress) is taken over once its
// lease runs out; the new holder finishes the expansion, and the old one,
// when it wakes up, finds its lease lost and stops without moving the
// cursor or adding a job.
func TestFrozenHolderIsTakenOver(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	e := setup(t, 6000, zap.New(zapcore.NewTee(testenv.Logger(t).Core(), core)))
	const lease = time.Second

	frozen, thaw := make(chan struct{}), make(chan struct{})
	var pages atomic.Int64
	var freeze sync.Once
	a := e.leased(lease)
	a.OnPageRead(func(string) error {
		if pages.Add(1) == 3 {
			freeze.Do(func() { close(frozen) })
			<-thaw
		}
		return nil
	})
	a.OnLeaseRenewal(func() bool {
		select {
		case <-frozen:
			return false
		default:
			return true
		}
	})
	ra := e.run(a)
	unfreeze := sync.OnceFunc(func() { close(thaw) })
	t.Cleanup(unfreeze) // before ra's stop, which waits for the frozen read
	id := e.create(ra.d)
	select {
	case <-frozen:
	case <-time.After(time.Minute):
		t.Fatal("the first holder never asked for page 3")
	}

	e.run(e.leased(lease)) // takes over once the lease runs out
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(id) }, "the second dispatcher finished the expansion")
	cursor, err := e.st.ExpansionCursor(context.Background(), id)
	require.NoError(t, err)

	unfreeze()
	testenv.Eventually(t, 30*time.Second, func() bool {
		return logs.FilterMessage("expansion stopped: another dispatcher holds it now").Len() > 0
	}, "the first holder stops")
	ra.stop()
	require.Contains(t, logs.FilterMessage("expansion stopped: another dispatcher holds it now").All()[0].ContextMap()["error"], "lease lost")
	after, err := e.st.ExpansionCursor(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, cursor, after, "the old holder did not move the cursor")

	want := e.members()
	install, _ := e.jobs(id)
	require.EqualValues(t, want, install, "one job per member in the stream")
	b, err := e.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, broadcast.Counts{Total: want, Installing: want}, b.Counts)
}
