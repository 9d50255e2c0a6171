// Package directory keeps each tenant's directory cache in Redis in step
// with Microsoft Graph, by delta query: the first sync lists every user
// (a full round), and each later one only what changed since the last
// round's deltaLink: added and changed users are saved, removed ones
// dropped. So a second broadcast to all users does not list them again.
//
// One sync per tenant runs at a time across every dispatcher: the one that
// takes the tenant's lease in Redis ({d:<tenant>}:lease) syncs and renews
// the lease while it works; the others wait for it to finish and use its
// result. The round in progress is recorded page by page (the link of its
// next page), so a sync that stops or dies resumes where it was. A link
// Graph no longer serves (an expired deltaLink: 400 syncStateNotFound, or
// 410) starts a full round again, at whose end the cached users it did not
// see are dropped: they were deleted while no delta could tell.
package directory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/retry"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Source reads a tenant's users by delta query; *graph.Client is one.
type Source interface {
	UsersDelta(ctx context.Context, link string) (graph.DeltaPage, error)
}

var _ Source = (*graph.Client)(nil)

// GroupSource lists a tenant's groups; a Source that is one has the
// groups' names cached by each sync, for authors to find groups by name.
type GroupSource interface {
	GroupsPage(ctx context.Context, next string) ([]graph.Group, string, error)
}

var _ GroupSource = (*graph.Client)(nil)

// maxGroupPages bounds a sync's listing of groups (999 a page).
const maxGroupPages = 1000

// Config tunes a Syncer.
type Config struct {
	// LeaseTTL is how long a sync's lease lasts unless renewed (it is
	// renewed every third of it): how long a dead dispatcher's sync blocks
	// the others. Default 30 s.
	LeaseTTL time.Duration
	// Poll is how often a dispatcher waiting for another's sync looks
	// again (with jitter). Default 250 ms.
	Poll time.Duration
}

// Syncer syncs tenants' directories into the store. It is safe for
// concurrent use.
type Syncer struct {
	cfg    Config
	store  *store.Store
	source func(tenant string) (Source, error)
	log    *zap.Logger
}

// New returns a Syncer reading each tenant's directory from source.
func New(cfg Config, st *store.Store, source func(tenant string) (Source, error), log *zap.Logger) *Syncer {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	return &Syncer{cfg: cfg, store: st, source: source, log: log}
}

// Result says what one Sync did.
type Result struct {
	Full    bool // a full round ran (first sync, or the deltaLink was gone)
	Pages   int  // Graph pages read
	Saved   int  // users added or changed
	Removed int  // users removed (by delta, or swept after a full round)
	Groups  int  // groups whose names were cached (with a GroupSource)
	// Waited is true when another dispatcher's sync was waited for
	// instead: its round is as fresh as one of our own.
	Waited bool
}

// Sync brings the tenant's directory cache up to date: one round from
// the last deltaLink (or a full one), or, if another dispatcher is
// syncing the tenant, the end of its round.
func (s *Syncer) Sync(ctx context.Context, tenant string) (Result, error) {
	owner := uuid.NewString()
	key := s.store.DirLeaseKey(tenant)
	log := s.log.With(zap.String("tenant_id", tenant))
	var before time.Time
	waited := false
	for {
		ok, err := s.store.TakeLease(ctx, key, owner, s.cfg.LeaseTTL)
		if err != nil {
			return Result{}, err
		}
		if ok {
			break
		}
		if !waited {
			st, err := s.store.DirectorySync(ctx, tenant)
			if err != nil {
				return Result{}, err
			}
			before, waited = st.SyncedAt, true
			log.Debug("directory sync: another dispatcher syncs the tenant; waiting for it")
		}
		if err := retry.Sleep(ctx, s.cfg.Poll/2+rand.N(s.cfg.Poll)); err != nil {
			return Result{}, err
		}
		st, err := s.store.DirectorySync(ctx, tenant)
		if err != nil {
			return Result{}, err
		}
		if st.SyncedAt.After(before) {
			return Result{Waited: true}, nil
		}
		// Still running, or its owner died: the lease runs out and the
		// next TakeLease gets it.
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the sync's lease lasts as long as it works
		defer wg.Done()
		t := time.NewTicker(s.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.store.RenewLease(ctx, key, owner, s.cfg.LeaseTTL); err != nil {
					if errors.Is(err, store.ErrLeaseLost) {
						cancel(err) // another dispatcher took over: stop
						return
					}
					log.Warn("directory sync: lease not renewed; trying again", zap.Error(err))
				}
			}
		}
	}()
	res, err := s.round(ctx, tenant, log)
	cancel(nil)
	wg.Wait()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer rcancel()
	if rerr := s.store.ReleaseLease(rctx, key, owner); rerr != nil {
		log.Warn("directory sync: lease not released; it runs out", zap.Error(rerr))
	}
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, store.ErrLeaseLost) {
		err = fmt.Errorf("directory sync of %s: %w", tenant, cause)
	}
	return res, err
}

// round runs (or resumes) one round and records it. Caller holds the lease.
func (s *Syncer) round(ctx context.Context, tenant string, log *zap.Logger) (Result, error) {
	src, err := s.source(tenant)
	if err != nil {
		return Result{}, err
	}
	st, err := s.store.DirectorySync(ctx, tenant)
	if err != nil {
		return Result{}, err
	}
	var res Result
	link := st.NextLink
	res.Full = st.Full
	switch {
	case link != "":
		log.Info("directory sync: resuming the round in progress", zap.Bool("full", res.Full))
	case st.DeltaLink != "":
		link = st.DeltaLink
	default:
		if err := s.store.StartFullSync(ctx, tenant); err != nil {
			return res, err
		}
		res.Full = true
	}
	reset := false
	for {
		page, err := src.UsersDelta(ctx, link)
		if errors.Is(err, graph.ErrSyncReset) && !reset {
			// Graph lost the round's state (an expired deltaLink): list
			// everyone again, once.
			reset = true
			log.Warn("directory sync: Graph no longer serves the delta link; full resync", zap.Error(err))
			if err := s.store.StartFullSync(ctx, tenant); err != nil {
				return res, err
			}
			link, res.Full = "", true
			continue
		}
		if err != nil {
			return res, fmt.Errorf("directory sync of %s: %w", tenant, err)
		}
		res.Pages++
		var puts []broadcast.Profile
		var removed []string
		for _, u := range page.Users {
			if !broadcast.IsGUID(u.ID) {
				continue
			}
			if u.Removed != nil {
				removed = append(removed, strings.ToLower(u.ID))
				continue
			}
			puts = append(puts, ProfileOf(u))
		}
		if err := s.store.SaveDirectory(ctx, tenant, puts, removed, res.Full); err != nil {
			return res, err
		}
		res.Saved += len(puts)
		res.Removed += len(removed)
		if page.NextLink != "" {
			if err := s.store.SaveSyncLink(ctx, tenant, page.NextLink); err != nil {
				return res, err
			}
			link = page.NextLink
			continue
		}
		if res.Full {
			swept, err := s.store.SweepUnseen(ctx, tenant)
			if err != nil {
				return res, err
			}
			res.Removed += swept
		}
		if gs, ok := src.(GroupSource); ok {
			// Group names only help authors find groups: their failure
			// keeps the names of the last sync and fails no broadcast.
			if res.Groups, err = s.groups(ctx, tenant, gs); err != nil {
				log.Warn("directory sync: group names not cached; the last sync's stay", zap.Error(err))
			}
		}
		if err := s.store.FinishSync(ctx, tenant, page.DeltaLink); err != nil {
			return res, err
		}
		log.Info("directory synced", zap.Bool("full", res.Full), zap.Int("pages", res.Pages),
			zap.Int("saved", res.Saved), zap.Int("removed", res.Removed), zap.Int("groups", res.Groups))
		return res, nil
	}
}

// groups lists the tenant's groups (Graph has no delta here that is worth
// its state: groups are few beside users) and replaces the cached names.
func (s *Syncer) groups(ctx context.Context, tenant string, src GroupSource) (int, error) {
	if err := s.store.StartGroups(ctx, tenant); err != nil {
		return 0, err
	}
	n, next := 0, ""
	for range maxGroupPages {
		page, link, err := src.GroupsPage(ctx, next)
		if err != nil {
			return n, fmt.Errorf("directory sync of %s: %w", tenant, err)
		}
		names := make([]store.GroupName, 0, len(page))
		for _, g := range page {
			if broadcast.IsGUID(g.ID) {
				names = append(names, store.GroupName{ID: g.ID, DisplayName: g.DisplayName})
			}
		}
		if err := s.store.AddGroups(ctx, tenant, names); err != nil {
			return n, err
		}
		n += len(names)
		if next = link; next == "" {
			return n, s.store.FinishGroups(ctx, tenant)
		}
	}
	return n, fmt.Errorf("directory sync of %s: groups: more than %d pages", tenant, maxGroupPages)
}

// ProfileOf is the cached profile of a Graph user (its id lowercased).
func ProfileOf(u graph.DirectoryUser) broadcast.Profile {
	return broadcast.Profile{ID: strings.ToLower(u.ID), DisplayName: u.DisplayName, GivenName: u.GivenName,
		Surname: u.Surname, Mail: u.Mail, UserPrincipalName: u.UserPrincipalName, JobTitle: u.JobTitle,
		Department: u.Department, UserType: u.UserType, AccountEnabled: u.AccountEnabled}
}
