package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// listAll follows the cursors of f to the end, returning the ids in order
// and the number of pages.
func listAll(t *testing.T, s *Store, f ListFilter) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	for {
		bs, next, err := s.ListBroadcasts(context.Background(), f)
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(bs), f.Limit)
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
		if next == "" {
			return ids, pages
		}
		require.Less(t, pages, 10_000, "the cursors end")
		f.Cursor = next
	}
}

func TestListBroadcastsNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := testenv.FreeTenant(t)
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	var want []string // newest first
	var sending []string
	for i := range 23 {
		// Every three share a millisecond: ties are ordered by id.
		b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: tenant, Message: broadcast.Message{Text: "hi"},
			Audience: broadcast.Audience{AllUsers: true}, CreatedAt: base.Add(time.Duration(i/3) * time.Millisecond)}
		require.NoError(t, s.CreateBroadcast(ctx, b, []byte(`{}`)))
		if i%4 == 0 {
			require.NoError(t, s.rdb.HSet(ctx, s.keysOf(b.ID).meta, "status", string(broadcast.StatusSending)).Err())
		}
		if i%5 == 0 {
			require.NoError(t, s.rdb.HSet(ctx, s.keysOf(b.ID).meta, "kind", "preview").Err())
		}
	}
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.tenantListKey(tenant), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, zs, 23)
	for _, z := range zs {
		want = append(want, z.Member.(string))
	}
	for _, id := range want {
		if st, _ := s.rdb.HGet(ctx, s.keysOf(id).meta, "status").Result(); st == string(broadcast.StatusSending) {
			sending = append(sending, id)
		}
	}

	for _, limit := range []int{1, 5, 7, 23, 50} {
		got, _ := listAll(t, s, ListFilter{TenantID: tenant, Limit: limit})
		require.Equal(t, want, got, "limit %d", limit)
	}
	got, _ := listAll(t, s, ListFilter{TenantID: tenant, Limit: 2, Status: broadcast.StatusSending})
	require.Equal(t, sending, got)

	bs, _, err := s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50, Kind: broadcast.KindPreview})
	require.NoError(t, err)
	require.Len(t, bs, 5)
	bs, _, err = s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50, Kind: broadcast.KindBroadcast})
	require.NoError(t, err)
	require.Len(t, bs, 18)

	// Bounds are exclusive: the 3 at base+2ms and the 3 at base+3ms.
	got, _ = listAll(t, s, ListFilter{TenantID: tenant, Limit: 4, CreatedAfter: base.Add(time.Millisecond), CreatedBefore: base.Add(4 * time.Millisecond)})
	require.Equal(t, want[len(want)-12:len(want)-6], got)

	_, _, err = s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 5, Cursor: "nonsense"})
	require.ErrorIs(t, err, ErrBadCursor)
}

// countCommands counts the Redis commands a client sends.
type countCommands struct{ n atomic.Int64 }

func (c *countCommands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *countCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *countCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// A tenant with 100,000 broadcasts: a page costs what the page needs, not
// a scan of the tenant, and a sparse status filter looks at a bounded
// number of broadcasts per page.
func TestListBroadcastsHundredThousand(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := testenv.FreeTenant(t)
	const n = 100_000
	base := time.Now().Add(-24 * time.Hour).UnixMilli()
	ids := make([]string, n)
	for i := 0; i < n; i += 1000 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			zs := make([]redis.Z, 0, 1000)
			for j := i; j < i+1000; j++ {
				ids[j] = uuid.NewString()
				status := broadcast.StatusCompleted
				if j < 3 { // the three oldest are still sending
					status = broadcast.StatusSending
				}
				p.HSet(ctx, s.keysOf(ids[j]).meta, "id", ids[j], "tenant", tenant, "status", string(status),
					"created_at", base+int64(j), "message", `{"text":"hi"}`, "audience_spec", `{"allUsers":true}`, "priority", "normal")
				zs = append(zs, redis.Z{Score: float64(base + int64(j)), Member: ids[j]})
			}
			p.ZAdd(ctx, s.tenantListKey(tenant), zs...)
			return nil
		})
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		c := context.Background()
		for i := 0; i < n; i += 1000 {
			_, _ = s.rdb.Pipelined(c, func(p redis.Pipeliner) error {
				for _, id := range ids[i : i+1000] {
					p.Del(c, s.keysOf(id).meta)
				}
				return nil
			})
		}
		s.rdb.Del(c, s.tenantListKey(tenant))
	})
	cnt := &countCommands{}
	s.rdb.AddHook(cnt)
	// Warm the pool first: a new connection's handshake commands count too.
	_, _, err := s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50})
	require.NoError(t, err)
	cnt.n.Store(0)

	bs, next, err := s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50})
	require.NoError(t, err)
	require.Len(t, bs, 50)
	require.Equal(t, ids[n-1], bs[0].ID)
	require.NotEmpty(t, next)
	require.LessOrEqual(t, cnt.n.Load(), int64(1+2*50), "one index read and the page's broadcasts")

	cnt.n.Store(0)
	bs, next, err = s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50, Cursor: next})
	require.NoError(t, err)
	require.Equal(t, ids[n-51], bs[0].ID)
	require.NotEmpty(t, next)
	require.LessOrEqual(t, cnt.n.Load(), int64(1+2*50))

	cnt.n.Store(0)
	bs, next, err = s.ListBroadcasts(ctx, ListFilter{TenantID: tenant, Limit: 50, Status: broadcast.StatusSending})
	require.NoError(t, err)
	require.Empty(t, bs, "the sending ones are past the scan bound of one page")
	require.NotEmpty(t, next)
	require.LessOrEqual(t, cnt.n.Load(), int64(listMinScan+listMinScan/100+2), "at most the scan bound of metas, in batches")

	got, pages := listAll(t, s, ListFilter{TenantID: tenant, Limit: 500, Status: broadcast.StatusSending})
	require.Equal(t, []string{ids[2], ids[1], ids[0]}, got)
	// Each page looked at its bound (the last may be an empty one).
	require.LessOrEqual(t, pages, n/(listScanFactor*500)+1)
	require.GreaterOrEqual(t, pages, n/(listScanFactor*500))
}
