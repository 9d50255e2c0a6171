package dispatch_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// waitEnded waits for the broadcast to end and returns it.
func (b *bundle) waitEnded(id string, within time.Duration) *broadcast.Broadcast {
	b.t.Helper()
	var got *broadcast.Broadcast
	testenv.Eventually(b.t, within, func() bool {
		var err error
		got, err = b.st.Broadcast(context.Background(), id)
		return err == nil && got.Status.Ended()
	}, "broadcast %s ends", id)
	return got
}

// Graph refusing the directory sync (the app lacks User.Read.All) fails an
// all-users broadcast after DefaultPermanentTries tries, with Graph's
// answer in its error, out of broadcasts:expanding: no dispatcher resumes
// it, and nothing was recorded or queued.
func TestDirectorySyncRefusedFailsTheBroadcast(t *testing.T) {
	t.Parallel()
	b := setup(t, 50, testenv.Logger(t))
	b.sim.InjectGraph(b.tenant, teamsim.GraphFault{PathPrefix: "/users/delta", Status: http.StatusForbidden})
	d := b.dispatcher(nil)
	b.run(d)
	id := b.create(d)

	got := b.waitEnded(id, time.Minute)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Equal(t, "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (directory sync)", got.Error)
	require.Equal(t, broadcast.Counts{}, got.Counts)
	require.NotNil(t, got.CompletedAt)
	// Unregistered just after the status changed (store/registry.go).
	testenv.Eventually(t, 10*time.Second, func() bool { return b.expanded(id) }, "out of broadcasts:expanding")
	install, send := b.jobs(id)
	require.Zero(t, install+send)
	require.EqualValues(t, dispatch.DefaultPermanentTries, b.sim.Ledger().Requests[teamsim.KindGraphUsersDelta],
		"a bounded number of tries, each one request: a 403 is not retried by the client")
}

// A group audience whose transitive members Graph refuses (403, unlike an
// unknown group's 404, which is reported unresolved) fails the broadcast.
func TestGroupMembersRefusedFailsTheBroadcast(t *testing.T) {
	t.Parallel()
	b := setup(t, 200, testenv.Logger(t))
	group := b.sim.Groups(b.tenant)[0].ID
	b.sim.InjectGraph(b.tenant, teamsim.GraphFault{PathPrefix: "/groups/" + group + "/", Status: http.StatusForbidden})
	d := b.dispatcher(nil)
	b.run(d)
	id := b.createAudience(d, broadcast.Audience{GroupIDs: []string{group, "00000000-0000-0000-0000-00000000dead"}})

	got := b.waitEnded(id, time.Minute)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Equal(t, "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (members of group "+group+")", got.Error)
	require.Zero(t, got.Counts.Total)
	testenv.Eventually(t, 10*time.Second, func() bool { return b.expanded(id) }, "out of broadcasts:expanding")
}

// A Graph that keeps failing in a way that may pass (503s the client has
// retried) fails the broadcast once its expansion has made no progress for
// ExpansionStall; until then the expansion is resumed.
func TestGraphFailingWithoutProgressFailsTheBroadcast(t *testing.T) {
	t.Parallel()
	b := setup(t, 50, testenv.Logger(t))
	b.sim.InjectGraph(b.tenant, teamsim.GraphFault{PathPrefix: "/users/delta", Status: http.StatusServiceUnavailable})
	d := dispatch.New(dispatch.Config{Tenants: []string{b.tenant}, ResumeEvery: 50 * time.Millisecond, ExpansionStall: time.Millisecond},
		b.st, b.q, func(tenant string) (dispatch.Users, error) { return b.graphs.For(tenant) }, b.log)
	b.run(d)
	id := b.create(d)

	got := b.waitEnded(id, 2*time.Minute)
	require.Equal(t, broadcast.StatusFailed, got.Status)
	require.Contains(t, got.Error, "no progress for")
	require.Contains(t, got.Error, "Graph 503 serviceNotAvailable")
	require.Contains(t, got.Error, "(directory sync)")
	testenv.Eventually(t, 10*time.Second, func() bool { return b.expanded(id) }, "out of broadcasts:expanding")
	require.GreaterOrEqual(t, b.sim.Ledger().Requests[teamsim.KindGraphUsersDelta], int64(2), "tried again before failing")
}
