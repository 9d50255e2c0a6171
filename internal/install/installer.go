// Package install runs the installer workers: for a recipient without a
// known conversation, install the app for the user through Microsoft Graph
// (201 and 409 both mean it is installed), find the 1:1 chat with the bot,
// cache it as the user's conversation and hand the job to the senders.
package install

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Graph is the part of Microsoft Graph the installer uses, for one tenant.
type Graph interface {
	CatalogAppID(ctx context.Context, manifestID string) (string, error)
	InstallApp(ctx context.Context, userID, catalogAppID string) (bool, error)
	InstallationID(ctx context.Context, userID, catalogAppID string) (string, error)
	ChatID(ctx context.Context, userID, installationID string) (string, error)
}

var _ Graph = (*graph.Client)(nil)

// Config tunes an Installer.
type Config struct {
	TeamsAppID string // the app's manifest id
	// MaxDeliveries bounds the attempts for a recipient whose install keeps
	// failing for reasons that may pass.
	MaxDeliveries int
	RetryBase     time.Duration
}

// Installer handles install jobs.
type Installer struct {
	cfg      Config
	store    *store.Store
	pub      *queue.Queue
	graphFor func(tenant string) (Graph, error)
	log      *zap.Logger

	mu      sync.Mutex
	catalog map[string]string // tenant -> catalog app id
}

// New returns an Installer; graphFor returns the Graph client of a tenant.
func New(cfg Config, st *store.Store, pub *queue.Queue, graphFor func(tenant string) (Graph, error), log *zap.Logger) *Installer {
	if cfg.MaxDeliveries <= 0 {
		cfg.MaxDeliveries = 6
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	return &Installer{cfg: cfg, store: st, pub: pub, graphFor: graphFor, log: log, catalog: make(map[string]string)}
}

// Handle processes one install job; it is a queue.Handler.
func (in *Installer) Handle(ctx context.Context, msg jetstream.Msg) error {
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return queue.Terminate(err)
	}
	log := in.log.With(zap.String("broadcast_id", job.BroadcastID), zap.String("tenant_id", job.TenantID), zap.String("user_id", job.UserID))
	rec, err := in.store.Recipient(ctx, job.BroadcastID, job.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return queue.Terminate(err)
	}
	if err != nil {
		return err
	}
	if rec.State != broadcast.StateInstalling {
		log.Debug("install no longer needed", zap.String("state", string(rec.State)))
		return nil
	}

	conv, err := in.install(ctx, job)
	if err != nil {
		return in.settleFailure(ctx, msg, job, err, log)
	}
	if err := in.store.SetConversation(ctx, job.TenantID, job.UserID, conv); err != nil {
		return err
	}
	job.ConversationID = conv
	if err := in.pub.Publish(ctx, broadcast.StageSend, job); err != nil {
		return err
	}
	// The send job exists; a sender may already have claimed the recipient,
	// in which case this move is skipped.
	_, err = in.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From: []broadcast.State{broadcast.StateInstalling}, To: broadcast.StatePending, ConversationID: conv,
	})
	return err
}

// install makes sure the app is installed for the user and returns the
// conversation id of their 1:1 chat with the bot.
func (in *Installer) install(ctx context.Context, job broadcast.Job) (string, error) {
	g, err := in.graphFor(job.TenantID)
	if err != nil {
		return "", err
	}
	appID, err := in.catalogID(ctx, job.TenantID, g)
	if err != nil {
		return "", err
	}
	installed, err := g.InstallApp(ctx, job.UserID, appID)
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	instID, err := g.InstallationID(ctx, job.UserID, appID)
	if err != nil {
		return "", fmt.Errorf("find installation: %w", err)
	}
	chat, err := g.ChatID(ctx, job.UserID, instID)
	if err != nil {
		return "", fmt.Errorf("find chat: %w", err)
	}
	in.log.Debug("app ready", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID), zap.Bool("newly_installed", installed))
	return chat, nil
}

func (in *Installer) catalogID(ctx context.Context, tenant string, g Graph) (string, error) {
	in.mu.Lock()
	id, ok := in.catalog[tenant]
	in.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := g.CatalogAppID(ctx, in.cfg.TeamsAppID)
	if err != nil {
		return "", fmt.Errorf("find app %s in the catalog: %w", in.cfg.TeamsAppID, err)
	}
	in.mu.Lock()
	in.catalog[tenant] = id
	in.mu.Unlock()
	return id, nil
}

// settleFailure records an install that cannot succeed, or retries one that
// may, up to MaxDeliveries.
func (in *Installer) settleFailure(ctx context.Context, msg jetstream.Msg, job broadcast.Job, cause error, log *zap.Logger) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	reason := broadcast.Reason("")
	switch {
	case errors.Is(cause, graph.ErrNotFound):
		reason = broadcast.ReasonUserNotFound
	case errors.Is(cause, graph.ErrAppNotInCatalog):
		// A configuration problem, not this user's: keep the job and retry
		// slowly so that fixing TEAMS_APP_ID lets the broadcast carry on.
		log.Error("the app is not in the tenant's catalog", zap.Error(cause))
		return queue.Retry(time.Minute, cause)
	default:
		n := 1
		if md, err := msg.Metadata(); err == nil {
			n = int(md.NumDelivered)
		}
		if n < in.cfg.MaxDeliveries {
			delay := queue.Backoff(n, in.cfg.RetryBase, time.Minute)
			log.Warn("install failed, will retry", zap.Int("delivery", n), zap.Duration("delay", delay), zap.Error(cause))
			return queue.Retry(delay, cause)
		}
		reason = broadcast.ReasonInstallFailed
	}
	log.Warn("install failed for good", zap.String("reason", string(reason)), zap.Error(cause))
	_, err := in.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From: []broadcast.State{broadcast.StateInstalling}, To: broadcast.StateFailed, Reason: reason, LastError: cause.Error(),
	})
	return err
}
