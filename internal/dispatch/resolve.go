package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/directory"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Resolution turns an audience into the set of its recipients, in Redis
// ({b:<id>}:aud), before any job is published: the expansion then runs
// from that set. It goes in steps, each a page at a time, saving the step
// and its cursor after each page, so a dispatcher that dies resumes where
// it was, and every step can be redone (adding to a set twice is adding
// once):
//
//	exclude.userIds   into the excluded set
//	exclude.upns      looked up (cache, then Graph), into the excluded set
//	exclude.groupIds  the groups' transitive users, into the excluded set
//	allUsers          the directory synced (Graph delta), then its enabled members (and guests) listed
//	groupIds          transitive user members from Graph, their profiles cached
//	userIds           profiles from the cache, else Graph; unknown ids reported
//	upns              ids from the cache, else Graph; unknown UPNs reported
//
// A user added by two sources is one member of the set, so one recipient
// and one message; excluded users are never added. Every recipient has a
// profile in the directory cache once resolution is done (the sender
// personalises the message from it). Memory stays bounded: a page of ids
// at a time, whatever the audience's size.

// Resolution steps, in order.
const (
	stepExcludeIDs    = "exclude.userIds"
	stepExcludeUPNs   = "exclude.upns"
	stepExcludeGroups = "exclude.groupIds"
	stepAllUsers      = "allUsers"
	stepGroups        = "groupIds"
	stepUserIDs       = "userIds"
	stepUPNs          = "upns"
)

var resolveSteps = []string{stepExcludeIDs, stepExcludeUPNs, stepExcludeGroups, stepAllUsers, stepGroups, stepUserIDs, stepUPNs}

// resolve runs the broadcast's audience resolution from where it stopped.
func (d *Dispatcher) resolve(ctx context.Context, b *broadcast.Broadcast, at store.Resolution, log *zap.Logger) error {
	start := 0
	if at.Step != "" {
		start = slices.Index(resolveSteps, at.Step)
		if start < 0 {
			return corruptCursor("resolution step", at.Step)
		}
		log.Info("resuming audience resolution", zap.String("step", at.Step))
	}
	cursor := at.Cursor
	for _, step := range resolveSteps[start:] {
		if err := d.resolveStep(ctx, b, step, cursor); err != nil {
			return fmt.Errorf("resolve audience, %s: %w", step, err)
		}
		cursor = ""
	}
	size, err := d.store.FinishResolution(ctx, b.ID)
	if err != nil {
		return err
	}
	metrics.AudienceResolved(b.TenantID, size)
	got, err := d.store.Broadcast(ctx, b.ID)
	if err != nil {
		return err
	}
	fields := []zap.Field{zap.Int64("audience_size", size)}
	if u := got.Unresolved; u != nil {
		fields = append(fields, zap.Int64("unresolved", u.Count))
	}
	log.Info("audience resolved", fields...)
	return nil
}

func (d *Dispatcher) resolveStep(ctx context.Context, b *broadcast.Broadcast, step, cursor string) error {
	a := b.Audience
	switch step {
	case stepExcludeIDs:
		return d.eachListPage(ctx, b, step, store.InputExcludeUserIDs, cursor, func(_ int64, ids []string) error {
			return d.store.Exclude(ctx, b.ID, ids)
		})
	case stepExcludeUPNs:
		return d.eachListPage(ctx, b, step, store.InputExcludeUPNs, cursor, func(_ int64, upns []string) error {
			ids, _, err := d.lookUpUPNs(ctx, b.TenantID, upns)
			if err != nil {
				return err
			}
			return d.store.Exclude(ctx, b.ID, ids)
		})
	case stepExcludeGroups:
		return d.eachGroupPage(ctx, b, step, a.Exclude.GroupIDs, cursor, func(users []graph.DirectoryUser) error {
			ids := make([]string, 0, len(users))
			for _, u := range users {
				ids = append(ids, strings.ToLower(u.ID))
			}
			return d.store.Exclude(ctx, b.ID, ids)
		})
	case stepAllUsers:
		if !a.AllUsers {
			return nil
		}
		return d.resolveAllUsers(ctx, b, cursor)
	case stepGroups:
		return d.eachGroupPage(ctx, b, step, a.GroupIDs, cursor, func(users []graph.DirectoryUser) error {
			profiles := make([]broadcast.Profile, 0, len(users))
			ids := make([]string, 0, len(users))
			for _, u := range users {
				if !broadcast.IsGUID(u.ID) {
					continue
				}
				p := directory.ProfileOf(u)
				profiles = append(profiles, p)
				if (p.AccountEnabled == nil || *p.AccountEnabled) && (a.IncludeGuests || !p.Guest()) {
					ids = append(ids, p.ID)
				}
			}
			if err := d.store.SaveDirectory(ctx, b.TenantID, profiles, nil, false); err != nil {
				return err
			}
			_, err := d.store.AddAudience(ctx, b.ID, ids)
			return err
		})
	case stepUserIDs:
		return d.eachListPage(ctx, b, step, store.InputUserIDs, cursor, func(offset int64, ids []string) error {
			return d.resolveIDs(ctx, b, offset, ids)
		})
	case stepUPNs:
		return d.eachListPage(ctx, b, step, store.InputUPNs, cursor, func(offset int64, upns []string) error {
			ids, unknown, err := d.lookUpUPNs(ctx, b.TenantID, upns)
			if err != nil {
				return err
			}
			if err := d.unresolved(ctx, b.ID, store.UnresolvedUPN, upns, unknown, offset); err != nil {
				return err
			}
			_, err = d.store.AddAudience(ctx, b.ID, ids)
			return err
		})
	}
	return fmt.Errorf("unknown step %q", step)
}

// eachListPage calls f with each page of one of the request's lists from
// the offset in cursor, saving the offset past each page.
func (d *Dispatcher) eachListPage(ctx context.Context, b *broadcast.Broadcast, step, list, cursor string, f func(offset int64, page []string) error) error {
	offset, err := listOffset(cursor)
	if err != nil {
		return err
	}
	for {
		page, err := d.store.AudienceInput(ctx, b.ID, list, offset, int64(d.cfg.PageSize))
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := f(offset, page); err != nil {
			return err
		}
		offset += int64(len(page))
		if err := d.store.SaveResolution(ctx, b.ID, d.holder, step, strconv.FormatInt(offset, 10)); err != nil {
			return err
		}
		if len(page) < d.cfg.PageSize {
			return nil
		}
	}
}

// eachGroupPage calls f with each page of the groups' transitive user
// members, from the cursor "<group index>|<nextLink>". A group Graph does
// not know is reported unresolved and skipped.
func (d *Dispatcher) eachGroupPage(ctx context.Context, b *broadcast.Broadcast, step string, groups []string, cursor string, f func([]graph.DirectoryUser) error) error {
	if len(groups) == 0 {
		return nil
	}
	dir, err := d.usersFor(b.TenantID)
	if err != nil {
		return err
	}
	i, link, err := groupPosition(cursor, len(groups))
	if err != nil {
		return err
	}
	for ; i < len(groups); i, link = i+1, "" {
		for {
			users, next, err := dir.GroupMembersPage(ctx, groups[i], link)
			err = inGraph("members of group "+groups[i], err)
			if errors.Is(err, graph.ErrNotFound) {
				if step == stepGroups {
					if err := d.store.AddUnresolved(ctx, b.ID, store.UnresolvedGroup, []string{groups[i]}, []int64{int64(i)}); err != nil {
						return err
					}
				}
				d.log.Warn("audience group not found", zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID),
					zap.String("group_id", groups[i]), zap.String("step", step))
				break
			}
			if err != nil {
				return err
			}
			if err := f(users); err != nil {
				return err
			}
			if next == "" {
				break
			}
			if err := d.store.SaveResolution(ctx, b.ID, d.holder, step, strconv.Itoa(i)+"|"+next); err != nil {
				return err
			}
			link = next
		}
		if err := d.store.SaveResolution(ctx, b.ID, d.holder, step, strconv.Itoa(i+1)+"|"); err != nil {
			return err
		}
	}
	return nil
}

// resolveAllUsers syncs the tenant's directory (at the step's start), then
// adds its enabled members, and guests with includeGuests, from the
// cursor "m|<id>" or "g|<id>".
func (d *Dispatcher) resolveAllUsers(ctx context.Context, b *broadcast.Broadcast, cursor string) error {
	if cursor == "" {
		if d.syncer == nil {
			return errors.New("no directory to sync")
		}
		if _, err := d.syncer.Sync(ctx, b.TenantID); err != nil {
			return err
		}
	}
	set, after, err := directoryPosition(cursor)
	if err != nil {
		return err
	}
	for _, s := range []string{"m", "g"} {
		if s == "g" && !b.Audience.IncludeGuests {
			return nil
		}
		if set == "g" && s == "m" {
			continue
		}
		if s != set {
			after = ""
		}
		for {
			ids, err := d.store.DirectoryIDs(ctx, b.TenantID, s == "g", after, int64(d.cfg.PageSize))
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			if _, err := d.store.AddAudience(ctx, b.ID, ids); err != nil {
				return err
			}
			after = ids[len(ids)-1]
			if err := d.store.SaveResolution(ctx, b.ID, d.holder, stepAllUsers, s+"|"+after); err != nil {
				return err
			}
			if len(ids) < d.cfg.PageSize {
				break
			}
		}
	}
	return nil
}

// resolveIDs adds the users of a page of userIds whose profile is cached
// or that Graph knows (their profiles cached then), and reports the others.
func (d *Dispatcher) resolveIDs(ctx context.Context, b *broadcast.Broadcast, offset int64, ids []string) error {
	cached, err := d.store.Profiles(ctx, b.TenantID, ids)
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if _, ok := cached[id]; !ok {
			missing = append(missing, id)
		}
	}
	var unknown map[string]bool
	if len(missing) > 0 {
		found, err := d.lookUp(ctx, b.TenantID, missing)
		if err != nil {
			return err
		}
		unknown = make(map[string]bool)
		for _, id := range missing {
			if _, ok := found[id]; !ok {
				unknown[id] = true
			}
		}
	}
	if err := d.unresolved(ctx, b.ID, store.UnresolvedID, ids, unknown, offset); err != nil {
		return err
	}
	known := ids[:0:0]
	for _, id := range ids {
		if !unknown[id] {
			known = append(known, id)
		}
	}
	_, err = d.store.AddAudience(ctx, b.ID, known)
	return err
}

// lookUpUPNs returns the ids of the UPNs (the cache first, then Graph,
// whose answers are cached) and the UPNs neither knows.
func (d *Dispatcher) lookUpUPNs(ctx context.Context, tenant string, upns []string) ([]string, map[string]bool, error) {
	cached, err := d.store.UserIDsByUPN(ctx, tenant, upns)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(upns))
	var missing []string
	for _, u := range upns {
		if id, ok := cached[u]; ok {
			ids = append(ids, id)
		} else {
			missing = append(missing, u)
		}
	}
	unknown := map[string]bool{}
	if len(missing) > 0 {
		found, err := d.lookUp(ctx, tenant, missing)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range missing {
			if p, ok := found[u]; ok {
				ids = append(ids, p.ID)
			} else {
				unknown[u] = true
			}
		}
	}
	return ids, unknown, nil
}

// lookUp asks Graph for users by id or UPN, caches the profiles of those
// found and returns them keyed as asked.
func (d *Dispatcher) lookUp(ctx context.Context, tenant string, keys []string) (map[string]broadcast.Profile, error) {
	dir, err := d.usersFor(tenant)
	if err != nil {
		return nil, err
	}
	found, err := dir.UsersByKey(ctx, keys)
	if err != nil {
		return nil, inGraph("users by id or UPN", err)
	}
	out := make(map[string]broadcast.Profile, len(found))
	profiles := make([]broadcast.Profile, 0, len(found))
	for k, u := range found {
		if !broadcast.IsGUID(u.ID) {
			continue
		}
		p := directory.ProfileOf(u)
		out[k] = p
		profiles = append(profiles, p)
	}
	return out, d.store.SaveDirectory(ctx, tenant, profiles, nil, false)
}

// unresolved records the names of page (at offset in the request) that are
// in unknown.
func (d *Dispatcher) unresolved(ctx context.Context, id, kind string, page []string, unknown map[string]bool, offset int64) error {
	if len(unknown) == 0 {
		return nil
	}
	var names []string
	var pos []int64
	for i, n := range page {
		if unknown[n] {
			names = append(names, n)
			pos = append(pos, offset+int64(i))
		}
	}
	return d.store.AddUnresolved(ctx, id, kind, names, pos)
}
