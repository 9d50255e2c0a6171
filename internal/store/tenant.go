package store

import (
	"context"
	"errors"
	"fmt"
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
			p.Get(ctx, s.convKey(tenant, u))
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
	if err := s.rdb.Set(ctx, s.convKey(tenant, user), conv, 0).Err(); err != nil {
		return fmt.Errorf("cache conversation of %s: %w", user, err)
	}
	return nil
}

// ForgetConversation drops a user's cached conversation if it is still conv
// (the app was uninstalled or the conversation is gone).
func (s *Store) ForgetConversation(ctx context.Context, tenant, user, conv string) error {
	key := s.convKey(tenant, user)
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

// PauseLeft returns how long the tenant stays paused (<= 0 when it is not).
func (s *Store) PauseLeft(ctx context.Context, tenant string) (time.Duration, error) {
	left, err := s.pipe.Run(ctx, pauseLeftScript, []string{s.pauseKey(tenant)}).Int64()
	if err != nil {
		return 0, fmt.Errorf("read pause of %s: %w", tenant, err)
	}
	return time.Duration(left) * time.Microsecond, nil
}
