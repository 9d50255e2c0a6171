package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
	"github.com/broadcast-dev/broadcast/internal/localtime"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
	"github.com/broadcast-dev/broadcast/internal/wave"
)

// The zones of the test population: Windows and IANA names, and a user
// without one (the tenant's zone, as for guests, who have no mailbox).
var testZones = []string{"Eastern Standard Time", "Europe/Berlin", "Tokyo Standard Time", ""}

const tenantZone = "Asia/Kolkata" // UTC+05:30, no daylight saving

type localBundle struct {
	*bundle
	clock *testenv.Clock
	logs  *observer.ObservedLogs
	waves *wave.Store
}

func setupLocal(t *testing.T, users int) *localBundle {
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	b := setupSim(t, teamsim.Config{UsersPerTenant: users, Seed: 3, TimeZones: testZones}, log)
	return &localBundle{bundle: b, clock: testenv.NewClock(time.Time{}), logs: logs, waves: wave.New(b.st.Client(), b.st.Keyspace)}
}

func (b *localBundle) dispatcher() *dispatch.Dispatcher { return b.dispatcherPaging(0) }

// dispatcherPaging is a dispatcher reading pages of pageSize (0: its default).
func (b *localBundle) dispatcherPaging(pageSize int) *dispatch.Dispatcher {
	return dispatch.New(dispatch.Config{Tenants: []string{b.tenant}, ResumeEvery: 50 * time.Millisecond, PageSize: pageSize,
		ScheduleEvery: 10 * time.Millisecond, Now: b.clock.Now, TimeZone: tenantZone}, b.st, b.q,
		func(tenant string) (dispatch.Users, error) { return b.graphs.For(tenant) }, b.log)
}

// zoneOf is the IANA zone a user's wave should be: the mailbox's, else
// the tenant's.
func (b *localBundle) zoneOf(u teamsim.User) string {
	if u.UserType == "Guest" {
		return tenantZone
	}
	name, _, err := localtime.Zone(b.sim.TimeZone(b.tenant, u.ID))
	if err != nil {
		return tenantZone
	}
	return name
}

func (b *localBundle) createLocal(d *dispatch.Dispatcher, local string) string {
	b.t.Helper()
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "at nine"}, LocalTime: &local,
		Audience: broadcast.Audience{AllUsers: true, IncludeGuests: true}}
	require.NoError(b.t, req.Normalize())
	bc, err := d.Create(context.Background(), &req)
	require.NoError(b.t, err)
	return bc.ID
}

// grouped waits for the broadcast's waves and returns them.
func (b *localBundle) grouped(id string) []broadcast.Zone {
	b.t.Helper()
	var zones []broadcast.Zone
	require.Eventually(b.t, func() bool {
		bc, err := b.st.Broadcast(context.Background(), id)
		require.NoError(b.t, err)
		zones, err = b.waves.Zones(context.Background(), bc)
		require.NoError(b.t, err)
		return len(zones) > 0
	}, 20*time.Second, 10*time.Millisecond)
	return zones
}

// recorded returns which users are recipients of the broadcast so far.
func (b *localBundle) recorded(id string) map[string]bool {
	b.t.Helper()
	out := map[string]bool{}
	for _, u := range b.sim.Users(b.tenant) {
		_, err := b.st.Recipient(context.Background(), id, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		require.NoError(b.t, err)
		out[u.ID] = true
	}
	return out
}

func (b *localBundle) zonesNow(id string) map[string]broadcast.Zone {
	b.t.Helper()
	bc, err := b.st.Broadcast(context.Background(), id)
	require.NoError(b.t, err)
	zones, err := b.waves.Zones(context.Background(), bc)
	require.NoError(b.t, err)
	out := map[string]broadcast.Zone{}
	for _, z := range zones {
		out[z.Zone] = z
	}
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// A broadcast at 09:00 local time, created four days before New York's clocks
// go forward (2026-03-08) and delivered the day after: each zone's
// recipients are queued at the instant 09:00 occurs there, New York's in
// summer time (13:00 UTC, not 14:00), users without a zone at the
// tenant's. Two dispatchers watch the waves; each starts once. The zones
// are read from Graph's mailboxSettings in $batches, once: a second
// broadcast takes them from the cache.
func TestLocalTimeWavesAcrossDaylightSaving(t *testing.T) {
	b := setupLocal(t, 60)
	b.clock.Set(utc("2026-03-04T12:00:00Z")) // zones read now are fresh (wave.ZoneMaxAge) on the 9th
	d1, d2 := b.dispatcher(), b.dispatcher()
	b.run(d1)
	b.run(d2)
	id := b.createLocal(d1, "2026-03-09T09:00")

	want := map[string]time.Time{
		"Asia/Tokyo":       utc("2026-03-09T00:00:00Z"),
		"Asia/Kolkata":     utc("2026-03-09T03:30:00Z"),
		"Europe/Berlin":    utc("2026-03-09T08:00:00Z"), // still winter time there
		"America/New_York": utc("2026-03-09T13:00:00Z"), // summer time since the 8th
	}
	byZone := map[string][]string{}
	for _, u := range b.sim.Users(b.tenant) {
		z := b.zoneOf(u)
		byZone[z] = append(byZone[z], u.ID)
	}
	require.Len(t, byZone, len(want), "every zone has users")

	zones := b.grouped(id)
	require.Len(t, zones, len(want))
	for i, z := range zones {
		require.Equal(t, broadcast.ZonePending, z.State, z.Zone)
		require.True(t, want[z.Zone].Equal(z.StartAt), "%s starts at %s, want %s", z.Zone, z.StartAt, want[z.Zone])
		require.EqualValues(t, len(byZone[z.Zone]), z.Recipients, z.Zone)
		if i > 0 {
			require.False(t, z.StartAt.Before(zones[i-1].StartAt), "waves by start")
		}
	}
	l := b.sim.Ledger()
	members := int64(len(b.sim.Users(b.tenant)))
	require.EqualValues(t, members, l.Requests[teamsim.KindGraphMailbox], "each user's zone read once")
	require.EqualValues(t, (members+19)/20, l.Requests[teamsim.KindGraphBatch], "20 a $batch")

	got := map[string]bool{}
	for _, zone := range []string{"Asia/Tokyo", "Asia/Kolkata", "Europe/Berlin", "America/New_York"} {
		// A millisecond before the wave's start, both watchers look (each
		// reads the clock once a tick) and leave it.
		b.clock.Set(want[zone].Add(-time.Millisecond))
		b.clock.Read(t, 6)
		require.Equal(t, got, b.recorded(id), "nothing of %s before its start", zone)
		require.Equal(t, broadcast.ZonePending, b.zonesNow(id)[zone].State)

		b.clock.Set(want[zone])
		for _, u := range byZone[zone] {
			got[u] = true
		}
		require.Eventually(t, func() bool {
			return b.zonesNow(id)[zone].State == broadcast.ZoneDone
		}, 20*time.Second, 10*time.Millisecond, zone)
		require.Equal(t, got, b.recorded(id), "%s's recipients, and only theirs, queued at its start", zone)
		install, send := b.jobs(id)
		require.EqualValues(t, len(got), install+send)
	}
	require.Eventually(t, func() bool { return b.expanded(id) }, 10*time.Second, 10*time.Millisecond)
	bc, err := b.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusSending, bc.Status)
	require.EqualValues(t, members, bc.Counts.Total)
	require.Equal(t, len(want), b.logs.FilterMessage("time zone wave started").Len(), "each wave started once by the two dispatchers")

	// The zones are cached with the directory: the next broadcast reads none.
	id2 := b.createLocal(d2, "2026-03-10T09:00")
	require.Len(t, b.grouped(id2), len(want))
	require.EqualValues(t, members, b.sim.Ledger().Requests[teamsim.KindGraphMailbox])
}

// A cancel stops the waves not started yet: their recipients are never
// recorded nor queued; the started one's are canceled as any are.
func TestLocalTimeCancelStopsPendingWaves(t *testing.T) {
	b := setupLocal(t, 40)
	b.clock.Set(utc("2026-03-20T12:00:00Z"))
	d := b.dispatcher()
	b.run(d)
	// Berlin's clocks go forward on the 29th: 09:00 is 07:00 UTC on the 30th.
	id := b.createLocal(d, "2026-03-30T09:00")
	zones := b.grouped(id)
	require.Equal(t, "Asia/Tokyo", zones[0].Zone)
	require.True(t, utc("2026-03-30T00:00:00Z").Equal(zones[0].StartAt))
	require.True(t, utc("2026-03-30T07:00:00Z").Equal(b.zonesNow(id)["Europe/Berlin"].StartAt))

	b.clock.Set(zones[0].StartAt)
	require.Eventually(t, func() bool { return b.zonesNow(id)["Asia/Tokyo"].State == broadcast.ZoneDone },
		20*time.Second, 10*time.Millisecond)
	tokyo := b.recorded(id)
	require.EqualValues(t, zones[0].Recipients, len(tokyo))

	_, changed, err := d.Cancel(context.Background(), id)
	require.NoError(t, err)
	require.True(t, changed)
	require.Eventually(t, func() bool {
		bc, err := b.st.Broadcast(context.Background(), id)
		require.NoError(t, err)
		return bc.Status == broadcast.StatusCanceled
	}, 20*time.Second, 10*time.Millisecond)
	for zone, z := range b.zonesNow(id) {
		if zone == "Asia/Tokyo" {
			require.Equal(t, broadcast.ZoneDone, z.State)
		} else {
			require.Equal(t, broadcast.ZoneCanceled, z.State, zone)
		}
	}
	b.clock.Set(utc("2026-03-31T00:00:00Z"))
	b.clock.Read(t, 5)
	require.Equal(t, tokyo, b.recorded(id), "no wave started after the cancel")
	due, err := b.waves.Due(context.Background(), utc("2026-04-01T00:00:00Z"), 0, 100000)
	require.NoError(t, err)
	for _, w := range due {
		require.NotEqual(t, id, w[0], "canceled waves are unregistered")
	}
}

// localTime is checked at create against the zones the tenant is known
// to have and the tenant's own: past in one of them is refused, naming
// the field and the zone.
func TestLocalTimeRefusedWhenPassed(t *testing.T) {
	b := setupLocal(t, 20)
	b.clock.Set(utc("2026-03-09T04:00:00Z")) // 09:00 has passed in Tokyo and in Kolkata
	d := b.dispatcher()
	local := "2026-03-09T09:00"
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "late"}, LocalTime: &local,
		Audience: broadcast.Audience{AllUsers: true}}
	require.NoError(t, req.Normalize())
	_, err := d.Create(context.Background(), &req)
	var verr *broadcast.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "localTime", verr.Problems[0].Field)
	require.ErrorContains(t, err, "has passed in Asia/Kolkata", "the tenant's zone; no user's is known yet")
}

// A wave started by a dispatcher that died before queuing it, and whose
// queuing then stops half-way, is resumed from the wave's cursor by the
// dispatchers' resume: every recipient of it once.
func TestLocalTimeWaveResumes(t *testing.T) {
	b := setupLocal(t, 40)
	b.clock.Set(utc("2026-03-04T12:00:00Z"))
	d := b.dispatcherPaging(3)
	var mu sync.Mutex
	failed := 0
	d.OnPageRead(func(cursor string) error {
		mu.Lock()
		defer mu.Unlock()
		if cursor != "" && failed == 0 {
			failed++
			return errors.New("injected: the dispatcher stops here")
		}
		return nil
	})
	b.run(d)
	id := b.createLocal(d, "2026-03-09T09:00")
	zones := b.grouped(id)
	tokyo := zones[0]
	require.Equal(t, "Asia/Tokyo", tokyo.Zone)
	require.Greater(t, tokyo.Recipients, int64(3), "more than a page")

	// Started as a dying dispatcher would: the script alone, nothing queued.
	v, err := b.waves.Start(context.Background(), id, tokyo.Zone, tokyo.StartAt, []string{b.tenant})
	require.NoError(t, err)
	require.Equal(t, "started", v)
	require.Eventually(t, func() bool { return b.zonesNow(id)[tokyo.Zone].State == broadcast.ZoneDone },
		20*time.Second, 10*time.Millisecond)
	mu.Lock()
	require.Equal(t, 1, failed)
	mu.Unlock()
	bc, err := b.st.Broadcast(context.Background(), id)
	require.NoError(t, err)
	require.EqualValues(t, tokyo.Recipients, bc.Counts.Total)
	require.Len(t, b.recorded(id), int(tokyo.Recipients))
	install, send := b.jobs(id)
	require.EqualValues(t, tokyo.Recipients, install+send, "each once")
	require.Equal(t, broadcast.StatusExpanding, bc.Status, "the other waves wait")
}

// Without MailboxSettings.Read Graph refuses the zones: the broadcast
// fails, saying so, as any refusal during expansion does.
func TestLocalTimeFailsWhenGraphRefusesZones(t *testing.T) {
	b := setupLocal(t, 30)
	b.clock.Set(utc("2026-03-04T12:00:00Z"))
	// A group audience reads no /users/ path but the mailboxes'.
	b.sim.InjectGraph(b.tenant, teamsim.GraphFault{PathPrefix: "/users/", Status: 403, Code: "ErrorAccessDenied",
		Message: "Access is denied. Check credentials and try again."})
	d := b.dispatcher()
	b.run(d)
	local := "2026-03-09T09:00"
	req := broadcast.CreateRequest{Message: broadcast.Message{Text: "at nine"}, LocalTime: &local,
		Audience: broadcast.Audience{GroupIDs: []string{b.sim.Groups(b.tenant)[0].ID}}}
	require.NoError(t, req.Normalize())
	bc, err := d.Create(context.Background(), &req)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.st.Broadcast(context.Background(), bc.ID)
		require.NoError(t, err)
		bc = got
		return got.Status == broadcast.StatusFailed
	}, 30*time.Second, 20*time.Millisecond)
	require.Contains(t, bc.Error, "Graph 403 ErrorAccessDenied")
	require.Contains(t, bc.Error, "(mailbox time zones)")
	require.Zero(t, bc.Counts.Total)
}

// Waves another deployment's dispatchers start (tenants this one does not
// serve), however many are due before ours, never hide ours: they are
// passed over a page at a time.
func TestLocalTimeWavesOfOtherTenantsHideNone(t *testing.T) {
	b := setupLocal(t, 20)
	b.clock.Set(utc("2026-03-20T12:00:00Z"))
	ctx := context.Background()
	// Another tenant's broadcast with more waves due since the start of
	// March than a page holds: each is left registered (foreign).
	fid := uuid.NewString()
	rdb := b.st.Client()
	require.NoError(t, rdb.HSet(ctx, b.st.MetaKey(fid), "id", fid, "status", string(broadcast.StatusExpanding), "tenant", uuid.NewString()).Err())
	foreign := make([]redis.Z, 0, 450)
	for i := range 450 {
		at := utc("2026-03-01T00:00:00Z").UnixMilli() + int64(i)
		zone := fmt.Sprintf("Zone/%d", i)
		require.NoError(t, rdb.HSet(ctx, b.st.BroadcastKey(fid, "waves"), zone, fmt.Sprintf(`{"at":%d,"n":1,"s":"pending"}`, at)).Err())
		foreign = append(foreign, redis.Z{Score: float64(at), Member: fid + " " + zone})
	}
	key := b.st.Key("waves:due")
	require.NoError(t, rdb.ZAdd(ctx, key, foreign...).Err())
	t.Cleanup(func() {
		for _, z := range foreign {
			rdb.ZRem(ctx, key, z.Member)
		}
		rdb.Del(ctx, b.st.MetaKey(fid), b.st.BroadcastKey(fid, "waves"))
	})
	d := b.dispatcher()
	b.run(d)
	id := b.createLocal(d, "2026-03-30T09:00")
	zones := b.grouped(id)
	b.clock.Set(zones[0].StartAt)
	require.Eventually(t, func() bool { return b.zonesNow(id)[zones[0].Zone].State == broadcast.ZoneDone },
		20*time.Second, 10*time.Millisecond)
}
