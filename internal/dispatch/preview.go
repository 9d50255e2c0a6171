package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// UserFinder finds one user of a tenant by object id or user principal
// name; a user it does not know is an error matching graph.ErrNotFound.
// A tenant's Users (graph.Client) is one.
type UserFinder interface {
	User(ctx context.Context, idOrUPN string) (graph.User, error)
}

var _ UserFinder = (*graph.Client)(nil)

// lookupTimeout bounds the resolution of a preview's recipient in Graph.
const lookupTimeout = 10 * time.Second

// Preview sends broadcast id's message, the activity its recipients get,
// to one user: a new broadcast of kind preview (PreviewOf id) whose
// audience is that user, sent now through the pipeline at urgent priority
// (so that it does not wait behind an announcement). The previewed
// broadcast is not touched: a scheduled one still starts at its sendAt,
// and the preview counts in none of its counters.
func (d *Dispatcher) Preview(ctx context.Context, id string, req *broadcast.PreviewRequest) (*broadcast.Broadcast, error) {
	of, err := d.store.Broadcast(ctx, id)
	if err != nil {
		return nil, err
	}
	if !d.Serves(of.TenantID) {
		return nil, fmt.Errorf("broadcast %s of a tenant this dispatcher does not serve: %w", id, store.ErrNotFound)
	}
	activity, err := d.store.Activity(ctx, id)
	if err != nil {
		return nil, err
	}
	user, err := d.resolveUser(ctx, of.TenantID, req.To)
	if err != nil {
		return nil, err
	}
	pid, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new broadcast id: %w", err)
	}
	previewOf := id
	if of.Kind == broadcast.KindPreview && of.PreviewOf != "" {
		previewOf = of.PreviewOf // a preview of a preview shows the same broadcast
	}
	p := &broadcast.Broadcast{ID: pid.String(), TenantID: of.TenantID, Message: of.Message,
		Audience: broadcast.Audience{UserIDs: []string{user}}, Priority: broadcast.PriorityUrgent,
		Status: broadcast.StatusExpanding, Kind: broadcast.KindPreview, PreviewOf: previewOf,
		CreatedBy: req.CreatedBy, CreatedAt: d.cfg.Now().UTC().Truncate(time.Millisecond)}
	if err := d.record(ctx, p, activity); err != nil {
		return nil, err
	}
	return p, nil
}

// PreviewDraft sends a message not sent yet to one user, as Preview does
// for a broadcast's: it is checked and built as a create's would be.
func (d *Dispatcher) PreviewDraft(ctx context.Context, req *broadcast.DraftPreviewRequest) (*broadcast.Broadcast, error) {
	tenant := req.TenantID
	if tenant == "" {
		tenant = d.cfg.Tenants[0]
	} else if !d.Serves(tenant) {
		return nil, broadcast.Invalid("tenantId", "this deployment does not serve tenant %s", tenant)
	}
	user, err := d.resolveUser(ctx, tenant, req.To)
	if err != nil {
		return nil, err
	}
	create := &broadcast.CreateRequest{TenantID: tenant, Message: req.Message,
		Audience: broadcast.Audience{UserIDs: []string{user}}, Priority: broadcast.PriorityUrgent, CreatedBy: req.CreatedBy}
	p, activity, err := d.prepare(create)
	if err != nil {
		return nil, err
	}
	p.Kind = broadcast.KindPreview
	if err := d.record(ctx, p, activity); err != nil {
		return nil, err
	}
	return p, nil
}

// resolveUser returns the object id of the user to names (an id or a
// user principal name): from the tenant's directory cache, else from
// Graph. A user neither knows is a *broadcast.UnknownUserError.
func (d *Dispatcher) resolveUser(ctx context.Context, tenant, to string) (string, error) {
	if broadcast.IsGUID(to) {
		cached, err := d.store.Profiles(ctx, tenant, []string{to})
		if err != nil {
			return "", err
		}
		if _, ok := cached[to]; ok {
			return to, nil
		}
	} else {
		ids, err := d.store.UserIDsByUPN(ctx, tenant, []string{to})
		if err != nil {
			return "", err
		}
		if id, ok := ids[to]; ok {
			return id, nil
		}
	}
	dir, err := d.usersFor(tenant)
	if err != nil {
		return "", err
	}
	finder, ok := dir.(UserFinder)
	if !ok {
		return "", fmt.Errorf("resolve %q: the directory of tenant %s cannot look users up", to, tenant)
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	u, err := finder.User(lctx, to)
	switch {
	case errors.Is(err, graph.ErrNotFound):
		return "", &broadcast.UnknownUserError{To: to, Tenant: tenant}
	case err != nil:
		return "", fmt.Errorf("resolve %q: %w", to, err)
	case !broadcast.IsGUID(u.ID):
		return "", fmt.Errorf("resolve %q: Graph answered the id %q, not a GUID", to, u.ID)
	}
	id := strings.ToLower(u.ID)
	// The sender personalises the preview from the directory cache: cache
	// what Graph said of the user. Without it the preview still goes, its
	// placeholders empty (the sender warns).
	p := broadcast.Profile{ID: id, DisplayName: u.DisplayName, UserPrincipalName: u.UserPrincipalName, UserType: u.UserType}
	if err := d.store.PutProfiles(ctx, tenant, []broadcast.Profile{p}); err != nil {
		d.log.Warn("cache the profile of a preview's user", zap.String("tenant_id", tenant), zap.String("user_id", id), zap.Error(err))
	}
	return id, nil
}
