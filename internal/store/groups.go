package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The names of a tenant's groups, cached by the directory sync so that an
// author finds a group by name:
//
//	{d:<tenant>}:groups      hash: group id -> display name
//	{d:<tenant>}:groups:new  the hash being written by a sync, renamed over it at the end
func (ks Keyspace) dirGroupsKey(tenant string) string    { return ks.dirKey(tenant, "groups") }
func (ks Keyspace) dirNewGroupsKey(tenant string) string { return ks.dirKey(tenant, "groups:new") }

// GroupName is a cached group.
type GroupName struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// StartGroups begins writing a new list of the tenant's groups.
func (s *Store) StartGroups(ctx context.Context, tenant string) error {
	if err := s.rdb.Del(ctx, s.dirNewGroupsKey(tenant)).Err(); err != nil {
		return fmt.Errorf("start the groups of %s: %w", tenant, err)
	}
	return nil
}

// AddGroups adds a page of groups to the list being written.
func (s *Store) AddGroups(ctx context.Context, tenant string, gs []GroupName) error {
	if len(gs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(gs))
	for _, g := range gs {
		args = append(args, strings.ToLower(g.ID), g.DisplayName)
	}
	if err := s.rdb.HSet(ctx, s.dirNewGroupsKey(tenant), args...).Err(); err != nil {
		return fmt.Errorf("cache %d groups of %s: %w", len(gs), tenant, err)
	}
	return nil
}

// FinishGroups replaces the cached groups with the list written, at once
// (RENAME): a group deleted since the last sync is gone. The sync's lease
// makes it the only writer.
func (s *Store) FinishGroups(ctx context.Context, tenant string) error {
	n, err := s.rdb.Exists(ctx, s.dirNewGroupsKey(tenant)).Result()
	if err == nil {
		if n == 0 { // no groups at all
			err = s.rdb.Del(ctx, s.dirGroupsKey(tenant)).Err()
		} else {
			err = s.rdb.Rename(ctx, s.dirNewGroupsKey(tenant), s.dirGroupsKey(tenant)).Err()
		}
	}
	if err != nil {
		return fmt.Errorf("finish the groups of %s: %w", tenant, err)
	}
	return nil
}

// maxGroupScan bounds the groups one search reads.
const maxGroupScan = 200_000

// SearchGroups returns up to limit cached groups whose name contains q,
// ignoring case: those whose name starts with it first, then by name.
func (s *Store) SearchGroups(ctx context.Context, tenant, q string, limit int) ([]GroupName, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	var found []GroupName
	var cursor uint64
	for read := 0; read < maxGroupScan; {
		kv, next, err := s.rdb.HScan(ctx, s.dirGroupsKey(tenant), cursor, "", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("search the groups of %s: %w", tenant, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if strings.Contains(strings.ToLower(kv[i+1]), q) {
				found = append(found, GroupName{ID: kv[i], DisplayName: kv[i+1]})
			}
		}
		read += len(kv) / 2
		if cursor = next; cursor == 0 {
			break
		}
	}
	slices.SortFunc(found, func(a, b GroupName) int {
		ap, bp := strings.HasPrefix(strings.ToLower(a.DisplayName), q), strings.HasPrefix(strings.ToLower(b.DisplayName), q)
		switch {
		case ap && !bp:
			return -1
		case bp && !ap:
			return 1
		}
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
	return found[:min(limit, len(found))], nil
}
