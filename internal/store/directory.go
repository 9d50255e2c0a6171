package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// The directory cache of a tenant: its users' profiles, and their ids by
// lowercased user principal name. Both share the hash tag {d:<tenant>}.

// PutProfiles adds or replaces users in the tenant's directory cache.
func (s *Store) PutProfiles(ctx context.Context, tenant string, ps []broadcast.Profile) error {
	if len(ps) == 0 {
		return nil
	}
	users := make([]any, 0, 2*len(ps))
	upns := make([]any, 0, 2*len(ps))
	for _, p := range ps {
		raw, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode profile of %s: %w", p.ID, err)
		}
		users = append(users, p.ID, raw)
		if p.UserPrincipalName != "" {
			upns = append(upns, strings.ToLower(p.UserPrincipalName), p.ID)
		}
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.dirUsersKey(tenant), users...)
		if len(upns) > 0 {
			p.HSet(ctx, s.dirUPNKey(tenant), upns...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache %d profiles of %s: %w", len(ps), tenant, err)
	}
	return nil
}

// Profiles returns the cached profiles of users (users not cached are
// absent from the map).
func (s *Store) Profiles(ctx context.Context, tenant string, ids []string) (map[string]broadcast.Profile, error) {
	out := make(map[string]broadcast.Profile, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.dirUsersKey(tenant), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("read %d profiles of %s: %w", len(ids), tenant, err)
	}
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue
		}
		var p broadcast.Profile
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("decode profile of %s: %w", ids[i], err)
		}
		out[ids[i]] = p
	}
	return out, nil
}

// UserIDsByUPN returns the cached user ids of user principal names, keyed
// by the names as given (names not cached are absent).
func (s *Store) UserIDsByUPN(ctx context.Context, tenant string, upns []string) (map[string]string, error) {
	out := make(map[string]string, len(upns))
	if len(upns) == 0 {
		return out, nil
	}
	lower := make([]string, len(upns))
	for i, u := range upns {
		lower[i] = strings.ToLower(u)
	}
	vals, err := s.rdb.HMGet(ctx, s.dirUPNKey(tenant), lower...).Result()
	if err != nil {
		return nil, fmt.Errorf("look up %d user principal names of %s: %w", len(upns), tenant, err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok {
			out[upns[i]] = id
		}
	}
	return out, nil
}

// RemoveProfiles drops users from the tenant's directory cache.
func (s *Store) RemoveProfiles(ctx context.Context, tenant string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	vals, err := s.rdb.HMGet(ctx, s.dirUsersKey(tenant), ids...).Result()
	if err != nil {
		return fmt.Errorf("read %d profiles of %s: %w", len(ids), tenant, err)
	}
	var upns []string
	for _, v := range vals {
		var p broadcast.Profile
		if raw, ok := v.(string); ok && json.Unmarshal([]byte(raw), &p) == nil && p.UserPrincipalName != "" {
			upns = append(upns, strings.ToLower(p.UserPrincipalName))
		}
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, s.dirUsersKey(tenant), ids...)
		if len(upns) > 0 {
			p.HDel(ctx, s.dirUPNKey(tenant), upns...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %d profiles of %s: %w", len(ids), tenant, err)
	}
	return nil
}
