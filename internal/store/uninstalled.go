package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The users who uninstalled the app, as the bot endpoint heard it
// (installationUpdate remove), by the time of the uninstall in ms. It
// shares the tenant's {u:<tenant>} tag with the unreachable report, which
// it does not change: that report is of broadcasts' outcomes, and a user
// who uninstalled is reinstalled by the next broadcast (the conversation
// is forgotten), so is only unreachable if that fails.

// AnnounceTTL is how long an install's announcement is remembered.
const AnnounceTTL = 10 * time.Minute

// announceScript remembers an install's announcement. KEYS[1] announced.
// ARGV[1] conversation, ARGV[2] TTL (ms). Returns 1 when it is new, 0 when
// the same install was announced already.
var announceScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if cur == ARGV[1] then return 0 end
return 1
`)

// NoteInstalled caches the conversation the bot endpoint was told of when
// the app was installed for the user, and forgets an earlier uninstall.
// It reports whether the install is new: false when the same install (the
// same conversation, no uninstall since) was announced in the last
// AnnounceTTL.
func (s *Store) NoteInstalled(ctx context.Context, tenant, user, conv string) (bool, error) {
	if err := s.SetConversation(ctx, tenant, user, conv); err != nil {
		return false, err
	}
	if err := s.rdb.HDel(ctx, s.uninstalledKey(tenant), user).Err(); err != nil {
		return false, fmt.Errorf("note install of %s: %w", user, err)
	}
	n, err := announceScript.Run(ctx, s.rdb, []string{s.announcedKey(tenant, user)}, conv, AnnounceTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("note install of %s: %w", user, err)
	}
	return n == 1, nil
}

// NoteUninstalled forgets the user's conversation, whatever it is (the
// next broadcast installs the app again), and records the uninstall.
func (s *Store) NoteUninstalled(ctx context.Context, tenant, user string, at time.Time) error {
	if err := s.ForgetConversation(ctx, tenant, user, ""); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, s.announcedKey(tenant, user)).Err(); err != nil {
		return fmt.Errorf("note uninstall of %s: %w", user, err)
	}
	if err := s.rdb.HSet(ctx, s.uninstalledKey(tenant), user, at.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("note uninstall of %s: %w", user, err)
	}
	return nil
}

// Uninstalled returns when the bot endpoint heard that the user
// uninstalled the app, and false if it did not (or heard of a later
// install).
func (s *Store) Uninstalled(ctx context.Context, tenant, user string) (time.Time, bool, error) {
	v, err := s.rdb.HGet(ctx, s.uninstalledKey(tenant), user).Result()
	return unixMillis(v, err, "uninstall of "+user)
}
