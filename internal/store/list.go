package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// ListFilter selects broadcasts for ListBroadcasts. Zero fields do not
// filter.
type ListFilter struct {
	TenantID string
	Status   broadcast.Status
	Kind     broadcast.Kind
	// CreatedAfter and CreatedBefore bound the creation time, both
	// exclusive, to the millisecond.
	CreatedAfter, CreatedBefore time.Time
	Limit                       int
	Cursor                      string
}

// listScanFactor bounds the work of one page filtered by status or kind:
// at most this many times the limit (and at least listMinScan) broadcasts
// are looked at, so a sparse filter over 100,000 broadcasts answers a
// shorter page (even an empty one) with a cursor rather than reading them all.
const (
	listScanFactor = 10
	listMinScan    = 1000
	listFetchers   = 8 // broadcasts read at once for a page
)

// ListBroadcasts returns broadcasts newest first, and the cursor of the
// next page ("" after the last). A page reads the time index from the
// cursor on (ZRANGE BYSCORE REV LIMIT: O(log N + page)); a status or kind
// filter is applied to the broadcasts read, within the scan bound above.
func (s *Store) ListBroadcasts(ctx context.Context, f ListFilter) ([]*broadcast.Broadcast, string, error) {
	key := s.Key(keyAll)
	if f.TenantID != "" {
		key = s.tenantListKey(f.TenantID)
	}
	lo, hi := "-inf", "+inf"
	if !f.CreatedAfter.IsZero() {
		lo = "(" + strconv.FormatInt(f.CreatedAfter.UnixMilli(), 10)
	}
	if !f.CreatedBefore.IsZero() {
		hi = "(" + strconv.FormatInt(f.CreatedBefore.UnixMilli(), 10)
	}
	var after *pos
	if f.Cursor != "" {
		p, err := decodePos(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		after = &p
		if f.CreatedBefore.IsZero() || p.score < f.CreatedBefore.UnixMilli() {
			hi = strconv.FormatInt(p.score, 10) // inclusive: the cursor's own millisecond is filtered below
		}
	}
	filtered := f.Status != "" || f.Kind != ""
	budget := f.Limit + 1
	batch := int64(f.Limit + 1)
	if filtered {
		budget = max(listMinScan, listScanFactor*f.Limit)
		batch = int64(max(100, min(f.Limit+1, 500)))
	}
	var (
		ids    []string
		last   pos // the last candidate looked at
		offset int64
		seen   int
		next   string
	)
scan:
	for seen < budget {
		zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: key, Start: hi, Stop: lo, // REV: from the newest
			ByScore: true, Rev: true, Offset: offset, Count: batch}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list broadcasts: %w", err)
		}
		offset += int64(len(zs))
		cands := make([]pos, 0, len(zs))
		for _, z := range zs {
			p := pos{score: int64(z.Score), id: z.Member.(string)}
			if after != nil && p.score == after.score && p.id >= after.id {
				continue // at or before the cursor, within its millisecond
			}
			cands = append(cands, p)
		}
		keep, err := s.matching(ctx, cands, f)
		if err != nil {
			return nil, "", err
		}
		for i, p := range cands {
			seen++
			last = p
			if keep[i] {
				ids = append(ids, p.id)
				if len(ids) == f.Limit {
					if i+1 < len(cands) || int64(len(zs)) == batch {
						next = p.encode()
					}
					break scan
				}
			}
			if seen >= budget {
				break
			}
		}
		if int64(len(zs)) < batch {
			break // the range is exhausted
		}
	}
	if next == "" && seen >= budget && len(ids) < f.Limit {
		next = last.encode() // the scan bound stopped this page: go on from there
	}
	out, err := s.broadcasts(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// matching reports which candidates pass the status and kind filters, from
// one pipelined read of their meta. A broadcast without a record does not.
func (s *Store) matching(ctx context.Context, cands []pos, f ListFilter) ([]bool, error) {
	keep := make([]bool, len(cands))
	if f.Status == "" && f.Kind == "" {
		for i := range keep {
			keep[i] = true
		}
		return keep, nil
	}
	cmds := make([]*redis.SliceCmd, len(cands))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range cands {
			cmds[i] = p.HMGet(ctx, s.keysOf(c.id).meta, "status", "kind")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filter broadcasts: %w", err)
	}
	for i, cmd := range cmds {
		v := cmd.Val()
		status, ok := v[0].(string)
		if !ok {
			continue
		}
		kind, _ := v[1].(string)
		keep[i] = (f.Status == "" || broadcast.Status(status) == f.Status) && (f.Kind == "" || broadcast.Kind(kind).OrBroadcast() == f.Kind)
	}
	return keep, nil
}

// broadcasts reads the broadcasts of ids through Broadcast (so a list shows
// what GET shows), a few at a time, in order; those gone are left out.
func (s *Store) broadcasts(ctx context.Context, ids []string) ([]*broadcast.Broadcast, error) {
	out := make([]*broadcast.Broadcast, len(ids))
	errs := make([]error, len(ids))
	var g errgroup.Group
	g.SetLimit(listFetchers)
	for i, id := range ids {
		g.Go(func() error {
			out[i], errs[i] = s.Broadcast(ctx, id)
			return nil
		})
	}
	_ = g.Wait() // errors are per broadcast, in errs
	list := out[:0]
	for i, b := range out {
		switch {
		case errors.Is(errs[i], ErrNotFound):
		case errs[i] != nil:
			return nil, errs[i]
		default:
			list = append(list, b)
		}
	}
	return list, nil
}

// pos is a place in a time index: a score (ms) and the member at it. Its
// encoding is the cursor of the list pages.
type pos struct {
	score int64
	id    string
}

func (p pos) encode() string { return strconv.FormatInt(p.score, 10) + "_" + p.id }

func decodePos(c string) (pos, error) {
	ms, id, ok := strings.Cut(c, "_")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 || id == "" || len(id) > 64 {
		return pos{}, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return pos{score: n, id: id}, nil
}
