// Package install runs the installer workers: for a recipient without a
// known conversation, install the app for the user through Microsoft Graph
// (201 and 409 both mean it is installed), find the 1:1 chat with the bot,
// cache it as the user's conversation and hand the job to the senders.
//
// When a bot endpoint is deployed (Config.ConversationWait), Teams tells
// it of each install and it caches the conversation: the installer takes
// it from the cache and makes neither lookup.
//
// Finding the chat costs two Graph calls against the tenant's installedApps
// GET budget (30/s), so Graph alone resolves about 15 users a second. When
// that budget is saturated and a Connector is configured, the installer asks
// the Bot Connector instead: create (or get) the user's conversation, one
// request from the tenant's shared send budget. A user without the app
// answers 403 ForbiddenOperationException and is installed through Graph
// first. Both routes run side by side, so a tenant's first broadcast is not
// held to Graph's pace.
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
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

// Graph is the part of Microsoft Graph the installer uses, for one tenant.
type Graph interface {
	CatalogAppID(ctx context.Context, manifestID string) (string, error)
	InstallApp(ctx context.Context, userID, catalogAppID string) (bool, error)
	InstallationID(ctx context.Context, userID, catalogAppID string) (string, error)
	ChatID(ctx context.Context, userID, installationID string) (string, error)
	LookupBacklog() time.Duration
}

// Connector is the part of the Bot Connector the installer uses.
type Connector interface {
	CreateConversation(ctx context.Context, tenantID, userAADObjectID string) (string, error)
}

var _ Connector = (*teams.Client)(nil)

var _ Graph = (*graph.Client)(nil)

// Config tunes an Installer.
type Config struct {
	TeamsAppID string // the app's manifest id
	// MaxDeliveries bounds the attempts for a recipient whose install keeps
	// failing for reasons that may pass.
	MaxDeliveries int
	RetryBase     time.Duration
	// Connector and Gates, when set, open the Connector route for users
	// whose chat Graph cannot look up soon enough; Gates must be the
	// senders' shared tenant budgets.
	Connector Connector
	Gates     *ratelimit.Tenants
	// GraphBacklog is how long a Graph lookup may wait before the Connector
	// route is taken instead. Default 500 ms.
	GraphBacklog time.Duration
	// ConversationWait, when positive, says a bot endpoint is deployed:
	// Teams tells it of each install and it caches the user's
	// conversation, so after an install the installer takes the cached
	// conversation, waiting up to ConversationWait for a new install's,
	// instead of looking it up (two Graph GETs, or a Connector create).
	// Zero (the default): no bot endpoint, look it up at once.
	ConversationWait time.Duration
}

// conversationPoll is how often the cache is read while waiting for the
// bot endpoint to cache a new install's conversation.
const conversationPoll = 50 * time.Millisecond

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
	if cfg.GraphBacklog <= 0 {
		cfg.GraphBacklog = 500 * time.Millisecond
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
	if job.Round > 0 {
		// A replay's job reopens its recipient if the replay stopped
		// before it did (see store.Reopen); otherwise this does nothing.
		if _, err := in.store.Reopen(ctx, job.BroadcastID, job.UserID, job.Round, broadcast.StateInstalling, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
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

	conv, how, err := in.install(ctx, job)
	if err != nil {
		return in.settleFailure(ctx, msg, job, err, log)
	}
	metrics.Install(job.TenantID, how.outcome(), how.route, "")
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

// installed is how an install went: whether the app was installed now, and
// which route found the conversation.
type installed struct {
	newly bool
	route string // metrics.RouteGraph or metrics.RouteConnector
}

func (i installed) outcome() string {
	if i.newly {
		return metrics.InstallInstalled
	}
	return metrics.InstallAlreadyInstalled
}

// install makes sure the app is installed for the user and returns the
// conversation id of their 1:1 chat with the bot.
func (in *Installer) install(ctx context.Context, job broadcast.Job) (string, installed, error) {
	g, err := in.graphFor(job.TenantID)
	if err != nil {
		return "", installed{}, err
	}
	if in.viaConnector(g) {
		conv, err := in.createConversation(ctx, job)
		if err == nil || teams.Classify(err) != teams.NotInstalled {
			return conv, installed{route: metrics.RouteConnector}, err
		}
		// No app yet: install it through Graph, then look again.
	}
	appID, err := in.catalogID(ctx, job.TenantID, g)
	if err != nil {
		return "", installed{}, err
	}
	newly, err := g.InstallApp(ctx, job.UserID, appID)
	if err != nil {
		return "", installed{}, fmt.Errorf("install: %w", err)
	}
	in.log.Debug("app installed", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID), zap.Bool("newly_installed", newly))
	if conv, ok, err := in.announcedConversation(ctx, job, newly); err != nil || ok {
		return conv, installed{newly: newly, route: metrics.RouteGraph}, err
	}
	if in.viaConnector(g) {
		conv, err := in.createConversation(ctx, job)
		return conv, installed{newly: newly, route: metrics.RouteConnector}, err
	}
	instID, err := g.InstallationID(ctx, job.UserID, appID)
	if err != nil {
		return "", installed{}, fmt.Errorf("find installation: %w", err)
	}
	chat, err := g.ChatID(ctx, job.UserID, instID)
	if err != nil {
		return "", installed{}, fmt.Errorf("find chat: %w", err)
	}
	return chat, installed{newly: newly, route: metrics.RouteGraph}, nil
}

// announcedConversation returns the conversation the bot endpoint cached
// for the user when Teams told it of the install, if a bot endpoint is
// deployed. It waits up to ConversationWait for a new install's (Teams
// posts it within moments of the install); an install that was already
// there is looked for once.
func (in *Installer) announcedConversation(ctx context.Context, job broadcast.Job, newly bool) (string, bool, error) {
	if in.cfg.ConversationWait <= 0 {
		return "", false, nil
	}
	var wait time.Duration
	if newly {
		wait = in.cfg.ConversationWait
	}
	deadline := time.Now().Add(wait)
	for {
		convs, err := in.store.Conversations(ctx, job.TenantID, []string{job.UserID})
		if err != nil {
			return "", false, err
		}
		if conv, ok := convs[job.UserID]; ok {
			in.log.Debug("conversation cached by the bot endpoint", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID))
			return conv, true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", false, nil
		}
		t := time.NewTimer(min(conversationPoll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", false, ctx.Err()
		case <-t.C:
		}
	}
}

// viaConnector reports whether the user's conversation should come from the
// Connector: Graph's lookups are queued beyond GraphBacklog.
func (in *Installer) viaConnector(g Graph) bool {
	return in.cfg.Connector != nil && g.LookupBacklog() > in.cfg.GraphBacklog
}

// createConversation gets the user's conversation from the Connector, within
// the tenant's shared budget.
func (in *Installer) createConversation(ctx context.Context, job broadcast.Job) (string, error) {
	gate := in.cfg.Gates.For(job.TenantID)
	if err := gate.Wait(ctx); err != nil {
		return "", err
	}
	start := time.Now()
	conv, err := in.cfg.Connector.CreateConversation(ctx, job.TenantID, job.UserID)
	metrics.ConnectorCall(metrics.OpCreateConversation, time.Since(start))
	var terr *teams.Error
	if teams.Classify(err) == teams.Throttled && errors.As(err, &terr) && terr.RetryAfter > 0 {
		if perr := gate.Pause(ctx, terr.RetryAfter); perr != nil {
			in.log.Warn("share tenant pause", zap.Error(perr))
		}
	}
	if err != nil {
		return "", fmt.Errorf("create conversation: %w", err)
	}
	return conv, nil
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
	// Counted once, here: retried unless it is recorded failed or blocked.
	counted, reason, to := metrics.InstallRetried, broadcast.Reason(""), broadcast.StateFailed
	defer func() { metrics.Install(job.TenantID, counted, "", string(reason)) }()
	var backlog *ratelimit.BacklogError
	var terr *teams.Error
	switch {
	case teams.Classify(cause) == teams.Disabled:
		reason, to = broadcast.ReasonBotDisabled, broadcast.StateBlocked
	case errors.As(cause, &backlog):
		return queue.Retry(backlog.Wait, cause)
	case teams.Classify(cause) == teams.Throttled && errors.As(cause, &terr):
		return queue.Retry(max(terr.RetryAfter, time.Second), cause)
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
	counted = metrics.InstallFailed
	if to == broadcast.StateBlocked {
		counted = metrics.InstallBlocked
	}
	log.Warn("install failed for good", zap.String("reason", string(reason)), zap.Error(cause))
	if reason.Replayable() {
		// Kept for a replay before it is recorded: every failure recorded
		// can be replayed. If it cannot be kept, the job is redelivered.
		f := broadcast.Failure{Job: job, Stage: broadcast.StageInstall, State: to, Reason: reason, LastError: cause.Error(), At: time.Now().UTC()}
		if err := in.pub.PublishFailure(ctx, f); err != nil {
			return err
		}
	}
	_, err := in.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From: []broadcast.State{broadcast.StateInstalling}, To: to, Reason: reason, LastError: cause.Error(),
	})
	return err
}
