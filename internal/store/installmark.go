package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallMarkTTL is how long the installer remembers that it installed the
// app for a user: long enough for Teams to create the user's chat (a few
// seconds) and for the job's later deliveries to find it.
const InstallMarkTTL = 10 * time.Minute

// MarkInstalled records that the job of scope installed the app for the
// user at at, so that the job's next delivery, waiting for Teams to create
// the chat, looks the conversation up instead of installing again.
func (s *Store) MarkInstalled(ctx context.Context, tenant, user, scope string, at time.Time) error {
	if err := s.rdb.Set(ctx, s.installMarkKey(tenant, user, scope), at.UnixMilli(), InstallMarkTTL).Err(); err != nil {
		return fmt.Errorf("note install of %s: %w", user, err)
	}
	return nil
}

// InstalledAt is when MarkInstalled last recorded an install for the user
// in scope, if within InstallMarkTTL.
func (s *Store) InstalledAt(ctx context.Context, tenant, user, scope string) (time.Time, bool, error) {
	v, err := s.rdb.Get(ctx, s.installMarkKey(tenant, user, scope)).Result()
	return unixMillis(v, err, "install of "+user)
}

// unixMillis reads a time stored as Unix milliseconds (a GET or HGET's
// answer): false when the key or field is missing.
func unixMillis(v string, err error, what string) (time.Time, bool, error) {
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read %s: %w", what, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read %s: %q is not a time", what, v)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}
