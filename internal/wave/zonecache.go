package wave

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ZoneMaxAge is how long a user's cached mailbox zone is used before it
// is read from Graph again: people rarely move, and a tenant-wide read
// costs a Graph request per user.
const ZoneMaxAge = 7 * 24 * time.Hour

func (s *Store) zoneCacheKey(tenant string) string  { return s.ks.DirectoryTag(tenant) + ":tz" }
func (s *Store) knownZonesKey(tenant string) string { return s.ks.DirectoryTag(tenant) + ":zones" }

// CachedZones returns the cached mailbox zones of users read after
// now-ZoneMaxAge, as Graph gave them ("" for a user without one); users
// not cached, or cached too long ago, are absent.
func (s *Store) CachedZones(ctx context.Context, tenant string, users []string, now time.Time) (map[string]string, error) {
	out := make(map[string]string, len(users))
	if len(users) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.zoneCacheKey(tenant), users...).Result()
	if err != nil {
		return nil, fmt.Errorf("read %d cached time zones of %s: %w", len(users), tenant, err)
	}
	oldest := now.Add(-ZoneMaxAge).UnixMilli()
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue
		}
		ms, zone, ok := strings.Cut(raw, "|")
		at, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || at < oldest {
			continue
		}
		out[users[i]] = zone
	}
	return out, nil
}

// CacheZones caches users' mailbox zones read at now (zones: user -> the
// name Graph gave, "" for none), and notes the IANA zones (known) the
// tenant's users have.
func (s *Store) CacheZones(ctx context.Context, tenant string, zones map[string]string, known []string, now time.Time) error {
	if len(zones) == 0 {
		return nil
	}
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	kv := make([]any, 0, 2*len(zones))
	for u, z := range zones {
		kv = append(kv, u, ms+"|"+z)
	}
	p := s.rdb.TxPipeline()
	p.HSet(ctx, s.zoneCacheKey(tenant), kv...)
	if len(known) > 0 {
		members := make([]any, len(known))
		for i, z := range known {
			members[i] = z
		}
		p.SAdd(ctx, s.knownZonesKey(tenant), members...)
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("cache %d time zones of %s: %w", len(zones), tenant, err)
	}
	return nil
}

// KnownZones lists the IANA zones the tenant's users are known to have
// (those read from Graph so far).
func (s *Store) KnownZones(ctx context.Context, tenant string) ([]string, error) {
	zones, err := s.rdb.SMembers(ctx, s.knownZonesKey(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the known time zones of %s: %w", tenant, err)
	}
	return zones, nil
}
