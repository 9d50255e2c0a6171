package store

import (
	"context"
	"fmt"
	"time"
)

// The users who uninstalled the app, as the bot endpoint heard it
// (installationUpdate remove), by the time of the uninstall in ms. It
// shares the tenant's {u:<tenant>} tag with the unreachable report, which
// it does not change: that report is of broadcasts' outcomes, and a user
// who uninstalled is reinstalled by the next broadcast (the conversation
// is forgotten), so is only unreachable if that fails.
func uninstalledKey(tenant string) string { return "{u:" + tenant + "}:uninstalled" }

// NoteInstalled caches the conversation the bot endpoint was told of when
// the app was installed for the user, and forgets an earlier uninstall.
func (s *Store) NoteInstalled(ctx context.Context, tenant, user, conv string) error {
	if err := s.SetConversation(ctx, tenant, user, conv); err != nil {
		return err
	}
	if err := s.rdb.HDel(ctx, uninstalledKey(tenant), user).Err(); err != nil {
		return fmt.Errorf("note install of %s: %w", user, err)
	}
	return nil
}

// NoteUninstalled forgets the user's conversation, whatever it is (the
// next broadcast installs the app again), and records the uninstall.
func (s *Store) NoteUninstalled(ctx context.Context, tenant, user string, at time.Time) error {
	if err := s.ForgetConversation(ctx, tenant, user, ""); err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, uninstalledKey(tenant), user, at.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("note uninstall of %s: %w", user, err)
	}
	return nil
}

// Uninstalled returns when the bot endpoint heard that the user
// uninstalled the app, and false if it did not (or heard of a later
// install).
func (s *Store) Uninstalled(ctx context.Context, tenant, user string) (time.Time, bool, error) {
	v, err := s.rdb.HGet(ctx, uninstalledKey(tenant), user).Result()
	return unixMillis(v, err, "uninstall of "+user)
}
