// Package timeseries is a broadcast's counters over time as Redis keeps
// them and the reports show them. A Lua script counts an event in a hash
// per minute since the epoch (Lua's bucket, field "<kind>:m:<minute>"):
// one HINCRBY, in the broadcast's hash slot. Fold reads the hash back per
// minute for the first hour from the send's start, per hour after, so a
// long broadcast's report stays short while its first hour, when most of
// it happens, keeps its detail.
package timeseries

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Lua defines bucket(key, kind, ms, n): count n events of kind at ms
// (Unix ms) in the series hash key. Scripts prepend it.
const Lua = `
local function bucket(key, kind, ms, n)
  redis.call('HINCRBY', key, kind .. ':m:' .. string.format('%d', math.floor(ms / 60000)), n)
end
`

// Bucket is one minute or hour: its start and the count of each kind.
type Bucket struct {
	At time.Time
	N  map[string]int64
}

// Fold reads a series hash (field -> count) into buckets per minute
// before start + 1h and per hour from then, oldest first; buckets with
// nothing are left out, and fields not of the series are ignored.
func Fold(fields map[string]string, start time.Time) (minutes, hours []Bucket) {
	firstHour := start.Add(time.Hour)
	byMinute, byHour := map[int64]*Bucket{}, map[int64]*Bucket{}
	for f, v := range fields {
		kind, rest, ok := strings.Cut(f, ":m:")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n == 0 {
			continue
		}
		unit, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			continue
		}
		at, into := time.Unix(unit*60, 0).UTC(), byMinute
		if !at.Before(firstHour) {
			at, into = at.Truncate(time.Hour), byHour
		}
		b := into[at.Unix()]
		if b == nil {
			b = &Bucket{At: at, N: map[string]int64{}}
			into[at.Unix()] = b
		}
		b.N[kind] += n
	}
	return sorted(byMinute), sorted(byHour)
}

func sorted(m map[int64]*Bucket) []Bucket {
	out := make([]Bucket, 0, len(m))
	for _, b := range m {
		for k, v := range b.N {
			if v == 0 { // a read moved to an earlier minute leaves -1 and +1
				delete(b.N, k)
			}
		}
		if len(b.N) > 0 {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
