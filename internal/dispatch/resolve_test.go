package dispatch_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// createAudience starts a broadcast to the audience.
func (b *bundle) createAudience(d *dispatch.Dispatcher, a broadcast.Audience) string {
	b.t.Helper()
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "audience test"}, Audience: a}
	require.NoError(b.t, req.Normalize())
	bc, err := d.Create(context.Background(), &req)
	require.NoError(b.t, err)
	return bc.ID
}

// recipients lists the broadcast's recipients' ids.
func (b *bundle) recipients(id string) []string {
	b.t.Helper()
	var out []string
	cursor := ""
	for {
		recs, next, err := b.st.Recipients(context.Background(), id, "", cursor, 1000)
		require.NoError(b.t, err)
		for _, r := range recs {
			out = append(out, r.UserID)
		}
		if next == "" {
			sort.Strings(out)
			return out
		}
		cursor = next
	}
}

func (b *bundle) group(name string) teamsim.Group {
	for _, g := range b.sim.Groups(b.tenant) {
		if g.DisplayName == name {
			return g
		}
	}
	b.t.Fatalf("no group %s", name)
	return teamsim.Group{}
}

func (b *bundle) transitive(name string) []string {
	ids, err := b.sim.GroupMembers(b.tenant, b.group(name).ID)
	require.NoError(b.t, err)
	return ids
}

// The union of overlapping and nested groups, ids and UPNs, minus the
// exclusions: each user once, guests of groups left out, unknown names
// reported, every recipient's profile cached.
func TestAudienceUnionDedupAndExclusion(t *testing.T) {
	t.Parallel()
	e := setup(t, 3000, testenv.Logger(t))
	ctx := context.Background()
	users := map[string]teamsim.User{}
	var guest teamsim.User
	for _, u := range e.sim.Users(e.tenant) {
		users[u.ID] = u
		if u.UserType == "Guest" {
			guest = u
		}
	}
	eng, europe, leaders := e.transitive("Engineering"), e.transitive("Europe"), e.transitive("Leadership")
	overlap := 0
	inEurope := map[string]bool{}
	for _, id := range europe {
		inEurope[id] = true
	}
	for _, id := range eng {
		if inEurope[id] {
			overlap++
		}
	}
	require.Positive(t, overlap, "the groups overlap")

	excluded := map[string]bool{eng[0]: true, users[europe[1]].UPN: true}
	for _, id := range leaders {
		excluded[id] = true
	}
	unknownID, unknownUPN := "0190c6d2-0000-7000-8000-00000000abcd", "nobody@contoso.example"
	a := broadcast.Audience{
		GroupIDs: []string{e.group("Engineering").ID, e.group("Europe").ID, e.tenant}, // the tenant id is no group
		UserIDs:  []string{eng[2], guest.ID, unknownID},
		UPNs:     []string{strings.ToUpper(users[europe[3]].UPN), unknownUPN, users[eng[4]].UPN},
		Exclude:  broadcast.Exclusion{UserIDs: []string{eng[0]}, UPNs: []string{users[europe[1]].UPN}, GroupIDs: []string{e.group("Leadership").ID}},
	}
	// Users named by id or UPN are recipients whatever their type; a
	// group's guests are not. (Group members are drawn per tenant, so a
	// named member may be a guest in one run and not in the next.)
	want := map[string]bool{guest.ID: true, eng[2]: true, europe[3]: true, eng[4]: true}
	for _, id := range append(append([]string{}, eng...), europe...) {
		if users[id].UserType != "Guest" {
			want[id] = true
		}
	}
	for id := range want {
		if excluded[id] || excluded[users[id].UPN] {
			delete(want, id)
		}
	}
	r := e.run(e.dispatcher(nil))
	id := e.createAudience(r.d, a)
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(id) }, "expansion finished")

	b, err := e.st.Broadcast(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, b.AudienceSize)
	require.EqualValues(t, len(want), *b.AudienceSize)
	require.EqualValues(t, len(want), b.Counts.Total)
	var wantIDs []string
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	require.Equal(t, wantIDs, e.recipients(id))
	install, send := e.jobs(id)
	require.EqualValues(t, len(want), install+send, "one job per recipient: a user of two sources gets one message")
	require.Equal(t, &broadcast.Unresolved{Count: 3, UPNs: []string{unknownUPN}, IDs: []string{unknownID}, GroupIDs: []string{e.tenant}}, b.Unresolved)

	profiles, err := e.st.Profiles(ctx, e.tenant, wantIDs)
	require.NoError(t, err)
	require.Len(t, profiles, len(want), "every recipient has a profile in the directory cache")
	require.Equal(t, users[eng[2]].Department, profiles[eng[2]].Department)
}

// An allUsers broadcast syncs the directory: the first lists everyone, a
// second only the changes since (one Graph request), and sees them.
func TestAllUsersSyncsTheDirectoryByDelta(t *testing.T) {
	t.Parallel()
	e := setup(t, 2500, testenv.Logger(t))
	ctx := context.Background()
	r := e.run(e.dispatcher(nil))
	first := e.create(r.d)
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(first) }, "first expansion finished")
	require.EqualValues(t, 3, e.sim.Ledger().Requests[teamsim.KindGraphUsersDelta], "a full round of pages of 999")
	b, err := e.st.Broadcast(ctx, first)
	require.NoError(t, err)
	require.EqualValues(t, e.members(), *b.AudienceSize)
	require.Zero(t, e.sim.Ledger().Requests[teamsim.KindGraphUsers], "no listing of /users")

	users := e.sim.Users(e.tenant)
	added, err := e.sim.AddUser(e.tenant, teamsim.UserSpec{GivenName: "Nadia"})
	require.NoError(t, err)
	gone := users[0]
	if gone.UserType == "Guest" {
		gone = users[1]
	}
	require.NoError(t, e.sim.RemoveUser(e.tenant, gone.ID))
	off := false
	disabled := users[2]
	_, err = e.sim.ChangeUser(e.tenant, disabled.ID, teamsim.UserChange{AccountEnabled: &off})
	require.NoError(t, err)

	second := e.createAudience(r.d, broadcast.Audience{AllUsers: true, IncludeGuests: true})
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(second) }, "second expansion finished")
	require.EqualValues(t, 4, e.sim.Ledger().Requests[teamsim.KindGraphUsersDelta], "the second broadcast read one page of changes")
	got := e.recipients(second)
	var want []string
	for _, u := range e.sim.Users(e.tenant) {
		if u.AccountEnabled {
			want = append(want, u.ID)
		}
	}
	sort.Strings(want)
	require.Equal(t, want, got, "members and guests with an enabled account, as the directory is now")
	require.Contains(t, got, added.ID)
	require.NotContains(t, got, gone.ID)
	require.NotContains(t, got, disabled.ID)
}

// stopInGroup stops the dispatcher at the n-th group page it asks for:
// the page never comes back, as if the dispatcher died waiting for it.
type stopInGroup struct {
	dispatch.Users
	n     int64
	stop  func()
	pages atomic.Int64
	once  sync.Once
}

func (s *stopInGroup) GroupMembersPage(ctx context.Context, group, next string) ([]graph.DirectoryUser, string, error) {
	if s.pages.Add(1) == s.n {
		s.once.Do(func() { go s.stop() })
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	return s.Users.GroupMembersPage(ctx, group, next)
}

// A dispatcher that dies mid-resolution leaves it recorded in Redis: the
// next resumes at the saved page, asks Graph for no page twice but the one
// in flight, and nothing is published before the audience is whole.
func TestResolutionResumesAfterACrash(t *testing.T) {
	t.Parallel()
	e := setup(t, 12_000, testenv.Logger(t)) // Engineering: 3,600 users, 4 pages of 999
	ctx := context.Background()
	dir, err := e.graphs.For(e.tenant)
	require.NoError(t, err)
	var r *running
	stopped := make(chan struct{})
	s := &stopInGroup{Users: dir, n: 3, stop: func() { r.stop(); close(stopped) }}
	r = e.run(e.dispatcher(func(string) (dispatch.Users, error) { return s, nil }))
	group := e.group("Engineering")
	id := e.createAudience(r.d, broadcast.Audience{GroupIDs: []string{group.ID}, IncludeGuests: true})
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the dispatcher never asked for the third page")
	}
	b, err := e.st.Broadcast(ctx, id)
	require.NoError(t, err)
	require.Nil(t, b.AudienceSize, "resolution is not finished")
	install, send := e.jobs(id)
	require.Zero(t, install+send, "no job before the audience is resolved")
	res, err := e.st.Resolution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "groupIds", res.Step)
	require.True(t, strings.HasPrefix(res.Cursor, "0|http"), "the link of the third page is saved: %s", res.Cursor)

	before := e.sim.Ledger().Requests[teamsim.KindGraphGroupMembers]
	e.run(e.dispatcher(nil))
	testenv.Eventually(t, time.Minute, func() bool { return e.expanded(id) }, "expansion resumed and finished")
	require.Equal(t, before+2, e.sim.Ledger().Requests[teamsim.KindGraphGroupMembers], "the third and fourth pages only")
	want, err := e.sim.GroupMembers(e.tenant, group.ID)
	require.NoError(t, err)
	b, err = e.st.Broadcast(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, len(want), *b.AudienceSize)
	require.Equal(t, want, e.recipients(id))
	install, send = e.jobs(id)
	require.EqualValues(t, len(want), install+send)
}
