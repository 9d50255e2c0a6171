package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Conversations returns the cached conversation ids of users in tenant
// (users without one are absent from the map).
func (s *Store) Conversations(ctx context.Context, tenant string, users []string) (map[string]string, error) {
	out := make(map[string]string, len(users))
	if len(users) == 0 {
		return out, nil
	}
	// One GET per key, pipelined: an MGET would cross slots on Redis Cluster.
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range users {
			p.Get(ctx, convKey(tenant, u))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read conversations: %w", err)
	}
	for i, c := range cmds {
		if v, err := c.(*redis.StringCmd).Result(); err == nil {
			out[users[i]] = v
		}
	}
	return out, nil
}

// SetConversation caches a user's conversation id with the bot.
func (s *Store) SetConversation(ctx context.Context, tenant, user, conv string) error {
	if err := s.rdb.Set(ctx, convKey(tenant, user), conv, 0).Err(); err != nil {
		return fmt.Errorf("cache conversation of %s: %w", user, err)
	}
	return nil
}

// ForgetConversation drops a user's cached conversation if it is still conv
// (the app was uninstalled or the conversation is gone).
func (s *Store) ForgetConversation(ctx context.Context, tenant, user, conv string) error {
	key := convKey(tenant, user)
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) || (err == nil && conv != "" && cur != conv) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			return nil
		})
		return err
	}, key)
	if err != nil {
		return fmt.Errorf("forget conversation of %s: %w", user, err)
	}
	return nil
}

// SetPause records that no request may reach tenant before until. A pause is
// only ever extended, never shortened.
func (s *Store) SetPause(ctx context.Context, tenant string, until time.Time) error {
	ttl := time.Until(until) + time.Second
	if ttl <= 0 {
		return nil
	}
	if err := pauseScript.Run(ctx, s.rdb, []string{pauseKey(tenant)}, until.UnixMilli(), ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("pause tenant %s: %w", tenant, err)
	}
	return nil
}

// PausedUntil returns when the tenant's pause ends (zero when not paused).
func (s *Store) PausedUntil(ctx context.Context, tenant string) (time.Time, error) {
	v, err := s.rdb.Get(ctx, pauseKey(tenant)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read pause of %s: %w", tenant, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("pause of %s: %q is not a time", tenant, v)
	}
	return time.UnixMilli(ms), nil
}
