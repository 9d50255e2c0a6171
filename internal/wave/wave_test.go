package wave_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/testenv"
	"github.com/broadcast-dev/broadcast/internal/wave"
)

type bundle struct {
	st     *store.Store
	waves  *wave.Store
	id     string
	tenant string
}

// setup gives a broadcast id whose meta says it expands for tenant, and
// holds its expansion lease as "me".
func setup(t *testing.T, status broadcast.Status) *bundle {
	t.Helper()
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	b := &bundle{st: store.New(rdb), waves: wave.New(rdb, store.New(rdb).Keyspace), id: uuid.NewString(), tenant: testenv.FreeTenant(t)}
	ctx := context.Background()
	require.NoError(t, rdb.HSet(ctx, b.st.MetaKey(b.id), "id", b.id, "status", string(status), "tenant", b.tenant).Err())
	held, err := b.st.TakeExpansion(ctx, b.id, "me", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, "{b:"+b.id+"}*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
		_, _ = b.waves.CancelPending(ctx, b.id)
	})
	return b
}

var (
	tokyo  = time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	berlin = time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
)

func (b *bundle) group(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, b.waves.Group(ctx, b.id, "me", "u2", map[string][]string{"Asia/Tokyo": {"u1"}, "Europe/Berlin": {"u2"}}))
	// A page redone adds nobody twice.
	require.NoError(t, b.waves.Group(ctx, b.id, "me", "u3", map[string][]string{"Asia/Tokyo": {"u1", "u3"}}))
	cursor, grouped, err := b.waves.Grouping(ctx, b.id)
	require.NoError(t, err)
	require.Equal(t, "u3", cursor)
	require.False(t, grouped)
	zones, err := b.waves.GroupedZones(ctx, b.id)
	require.NoError(t, err)
	require.Equal(t, []string{"Asia/Tokyo", "Europe/Berlin"}, zones)
	require.NoError(t, b.waves.FinishGrouping(ctx, b.id, "me", map[string]time.Time{"Asia/Tokyo": tokyo, "Europe/Berlin": berlin}))
}

// Several callers see a wave due at once: one starts it. Not before its
// start, and its later writes only by the lease holder.
func TestWaveStartsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, broadcast.StatusExpanding)
	ctx := context.Background()
	b.group(t)
	ws, err := b.waves.Waves(ctx, b.id)
	require.NoError(t, err)
	require.Len(t, ws, 2)
	require.Equal(t, broadcast.Zone{Zone: "Asia/Tokyo", StartAt: tokyo, Recipients: 2, State: broadcast.ZonePending}, ws[0].Zone)
	require.Equal(t, broadcast.Zone{Zone: "Europe/Berlin", StartAt: berlin, Recipients: 1, State: broadcast.ZonePending}, ws[1].Zone)

	v, err := b.waves.Start(ctx, b.id, "Asia/Tokyo", tokyo.Add(-time.Millisecond), []string{b.tenant})
	require.NoError(t, err)
	require.Equal(t, "early", v)
	v, err = b.waves.Start(ctx, b.id, "Asia/Tokyo", tokyo, []string{"another-tenant"})
	require.NoError(t, err)
	require.Equal(t, "foreign", v)

	var mu sync.Mutex
	verdicts := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.waves.Start(ctx, b.id, "Asia/Tokyo", tokyo, []string{b.tenant})
			require.NoError(t, err)
			mu.Lock()
			verdicts[v]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, map[string]int{"started": 1, "wave started": 7}, verdicts)

	members, err := b.waves.Members(ctx, b.id, "Asia/Tokyo", "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"u1", "u3"}, members)
	require.ErrorIs(t, b.waves.SaveCursor(ctx, b.id, "other", "Asia/Tokyo", "u1"), store.ErrLeaseLost)
	require.NoError(t, b.waves.SaveCursor(ctx, b.id, "me", "Asia/Tokyo", "u1"))
	require.Error(t, b.waves.SaveCursor(ctx, b.id, "me", "Europe/Berlin", "u2"), "a pending wave has no cursor")
	require.NoError(t, b.waves.Finish(ctx, b.id, "me", "Asia/Tokyo"))
	ws, err = b.waves.Waves(ctx, b.id)
	require.NoError(t, err)
	require.Equal(t, broadcast.ZoneDone, ws[0].State)
	require.Equal(t, "u1", ws[0].Cursor)

	due, err := b.waves.Due(ctx, berlin, 0, 1000)
	require.NoError(t, err)
	require.Contains(t, due, [2]string{b.id, "Europe/Berlin"})
	require.NotContains(t, due, [2]string{b.id, "Asia/Tokyo"})
}

// A cancel cancels the waves not started; one found due after the
// broadcast was canceled is canceled, not started.
func TestPendingWavesCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t, broadcast.StatusExpanding)
	ctx := context.Background()
	b.group(t)
	v, err := b.waves.Start(ctx, b.id, "Asia/Tokyo", tokyo, []string{b.tenant})
	require.NoError(t, err)
	require.Equal(t, "started", v)
	require.NoError(t, b.st.Client().HSet(ctx, b.st.MetaKey(b.id), "status", string(broadcast.StatusCanceling)).Err())
	bc := &broadcast.Broadcast{ID: b.id, Status: broadcast.StatusCanceling}
	zones, err := b.waves.Zones(ctx, bc)
	require.NoError(t, err)
	require.Equal(t, broadcast.ZoneStarted, zones[0].State)
	require.Equal(t, broadcast.ZoneCanceled, zones[1].State, "read canceled before the sweep")

	v, err = b.waves.Start(ctx, b.id, "Europe/Berlin", berlin, []string{b.tenant})
	require.NoError(t, err)
	require.Equal(t, "canceled", v)
	n, err := b.waves.CancelPending(ctx, b.id)
	require.NoError(t, err)
	require.Zero(t, n, "canceled already")
	ws, err := b.waves.Waves(ctx, b.id)
	require.NoError(t, err)
	require.Equal(t, broadcast.ZoneCanceled, ws[1].State)
	due, err := b.waves.Due(ctx, berlin.Add(time.Hour), 0, 1000)
	require.NoError(t, err)
	require.NotContains(t, due, [2]string{b.id, "Europe/Berlin"})
}

// Cached zones are used for ZoneMaxAge, then read again.
func TestZoneCache(t *testing.T) {
	t.Parallel()
	b := setup(t, broadcast.StatusExpanding)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, b.waves.CacheZones(ctx, b.tenant, map[string]string{"u1": "W. Europe Standard Time", "u2": ""},
		[]string{"Europe/Berlin"}, t0))
	got, err := b.waves.CachedZones(ctx, b.tenant, []string{"u1", "u2", "u3"}, t0.Add(wave.ZoneMaxAge))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"u1": "W. Europe Standard Time", "u2": ""}, got)
	got, err = b.waves.CachedZones(ctx, b.tenant, []string{"u1", "u2"}, t0.Add(wave.ZoneMaxAge+time.Millisecond))
	require.NoError(t, err)
	require.Empty(t, got)
	known, err := b.waves.KnownZones(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, []string{"Europe/Berlin"}, known)
}
