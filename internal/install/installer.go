// Package install runs the installer workers: for a recipient without a
// known conversation, find the user's 1:1 conversation with the bot
// (installing the app first if the user does not have it), cache it and
// hand the job to the senders.
//
// A conversation is found by whichever of two routes has budget now:
//
//   - the Connector's create conversation: one request from the tenant's
//     shared Connector budget, the one the senders use. The installer books
//     only the budget's spare room (a slot within ConnectorAhead), so sends
//     go first and creates fill what they leave;
//   - Graph: the installation, then its chat, two requests from the
//     tenant's installedApps GET budget (a separate one, 30/s).
//
// The Connector is tried first (one request instead of two); a job that
// finds no spare room there takes the Graph route while Graph's lookups are
// queued for less than GraphBacklog; when both are full it goes back to the
// stream for a moment. So both budgets stay full: on a first broadcast to
// users who all have the app, every user costs one send plus one create or
// two Graph lookups, and the tenant runs at (connector rate + Graph GET
// rate / 2) / 2 users a second, about 32.5/s at 50/s and 30/s.
//
// A user without the app (the create answers 403, or Graph lists no
// installation) is installed through Graph (POST installedApps). Teams then
// creates the chat asynchronously: for a few seconds Graph answers 404 for
// it and the Connector 403. The installer notes the install
// (store.MarkInstalled) and puts the job back for ChatDelay with jitter; the
// next delivery looks the conversation up (or takes it from the cache, where
// a deployed bot endpoint puts it when Teams announces the install), and
// keeps doing so with backoff for up to NotReadyFor before the install is
// recorded failed. A Graph install answered 403 means the tenant's app
// permission policy blocks the app for the user: recorded blocked
// (bot_disabled), never retried.
package install

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/retry"
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

// ConnectorAhead is how far ahead the installer books a slot of the
// tenant's Connector budget: only its spare room. The senders book up to
// ratelimit.DefaultAhead, so while they have messages to send they keep
// the budget booked beyond this and the installer turns to Graph.
const ConnectorAhead = 250 * time.Millisecond

// Config tunes an Installer.
type Config struct {
	TeamsAppID string // the app's manifest id
	// MaxDeliveries bounds the attempts for a recipient whose install keeps
	// failing for reasons that may pass.
	MaxDeliveries int
	RetryBase     time.Duration
	// Connector and Gates, when set, open the Connector route. Gates must
	// share the senders' tenant budgets (the same store) and be built with
	// ratelimit.WithAhead(ConnectorAhead), so that creates take only the
	// room the sends leave.
	Connector Connector
	Gates     *ratelimit.Tenants
	// GraphBacklog is how long a job may wait for Graph's lookup budget in
	// place; beyond it (and with no room on the Connector) the job goes
	// back to the stream for a moment. Default 1 s.
	GraphBacklog time.Duration
	// ChatDelay is how long after installing the app the conversation is
	// first looked for (Teams creates the chat asynchronously), with
	// jitter; later tries back off from it. Default 2 s.
	ChatDelay time.Duration
	// NotReadyFor bounds how long after an install the user's chat may stay
	// unknown before the install is recorded failed. Default 2 minutes.
	NotReadyFor time.Duration
	// GraphRPS is the tenants' Graph installedApps rate (GRAPH_RPS), which
	// with the Connector's sizes how many jobs a tenant keeps in hand.
	// Default 30.
	GraphRPS float64
	// Concurrency is the most jobs of one tenant Limit allows in hand
	// (INSTALL_CONCURRENCY). Default 512.
	Concurrency int
	// ConversationWait, when positive, says a bot endpoint is deployed:
	// Teams tells it of each install and it caches the user's
	// conversation, so after an install the installer waits up to
	// ConversationWait for it before putting the job back.
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

	busy *queue.InFlight

	mu      sync.Mutex
	catalog map[string]string // tenant -> catalog app id
	onGraph map[string]int    // tenant -> jobs on the Graph route
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
		cfg.GraphBacklog = time.Second
	}
	if cfg.ChatDelay <= 0 {
		cfg.ChatDelay = 2 * time.Second
	}
	if cfg.NotReadyFor <= 0 {
		cfg.NotReadyFor = 2 * time.Minute
	}
	if cfg.GraphRPS <= 0 {
		cfg.GraphRPS = 30
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 512
	}
	in := &Installer{cfg: cfg, store: st, pub: pub, graphFor: graphFor, log: log,
		catalog: make(map[string]string), onGraph: make(map[string]int)}
	in.busy = queue.NewInFlight(in.rate, cfg.Concurrency)
	return in
}

// rate is how many requests a second the tenant's conversations can be
// looked up with: the Connector's rate and Graph's.
func (in *Installer) rate(tenant string) float64 {
	r := in.cfg.GraphRPS
	if in.cfg.Gates != nil {
		r += in.cfg.Gates.For(tenant).Rate()
	}
	return r
}

// Limit is how many of the tenant's install jobs this installer should have
// in hand: its lookup rate times how long a job is busy, with headroom
// (queue.InFlight); use it as the scheduler's Limit.
func (in *Installer) Limit(tenant string) int { return in.busy.Limit(tenant) }

// Handle processes one install job; it is a queue.Handler.
func (in *Installer) Handle(ctx context.Context, msg jetstream.Msg) error {
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return queue.Terminate(err)
	}
	defer func(start time.Time) { in.busy.Observe(job.TenantID, time.Since(start)) }(time.Now())
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

	conv, how, err := in.conversation(ctx, job)
	if err != nil {
		return in.settleFailure(ctx, msg, job, err, log)
	}
	metrics.Install(job.TenantID, how.outcome(), how.route, "")
	if how.route != metrics.RouteCache {
		if err := in.store.SetConversation(ctx, job.TenantID, job.UserID, conv); err != nil {
			return err
		}
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

// installed is how an install went: whether the app was installed by this
// installer, and which route found the conversation.
type installed struct {
	newly bool
	route string // metrics.RouteGraph, RouteConnector or RouteCache
}

func (i installed) outcome() string {
	if i.newly {
		return metrics.InstallInstalled
	}
	return metrics.InstallAlreadyInstalled
}

// errNotInstalled: the route found no installation of the app for the user.
var errNotInstalled = errors.New("the app is not installed for the user")

// notReadyError says the app was installed for the user at since and Teams
// has not created the chat yet: the job comes back later.
type notReadyError struct {
	since time.Time
	cause error
}

func (e *notReadyError) Error() string {
	return fmt.Sprintf("chat not ready %s after the install: %v", time.Since(e.since).Round(time.Millisecond), e.cause)
}

func (e *notReadyError) Unwrap() error { return e.cause }

// conversation returns the user's conversation with the bot, installing the
// app first if needed.
func (in *Installer) conversation(ctx context.Context, job broadcast.Job) (string, installed, error) {
	// Cached since the job was queued: by the bot endpoint, an import, or
	// another broadcast's installer.
	if conv, ok, err := in.cached(ctx, job); err != nil || ok {
		return conv, installed{route: metrics.RouteCache}, err
	}
	g, err := in.graphFor(job.TenantID)
	if err != nil {
		return "", installed{}, err
	}
	since, marked, err := in.store.InstalledAt(ctx, job.TenantID, job.UserID, markScope(job))
	if err != nil {
		return "", installed{}, err
	}
	marked = marked && time.Since(since) < in.cfg.NotReadyFor
	conv, route, err := in.lookup(ctx, job, g)
	switch {
	case err == nil:
		return conv, installed{newly: marked, route: route}, nil
	case marked && (errors.Is(err, errNotInstalled) || errors.Is(err, graph.ErrNotFound)):
		// Installed moments ago: Teams is still creating the chat.
		return "", installed{}, &notReadyError{since: since, cause: err}
	case !errors.Is(err, errNotInstalled):
		return "", installed{}, err
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
	now := time.Now()
	if !newly {
		// 409: installed after all (meanwhile, or listed late): its chat
		// exists or is being created.
		now = now.Add(-in.cfg.ChatDelay)
	}
	if err := in.store.MarkInstalled(ctx, job.TenantID, job.UserID, markScope(job), now); err != nil {
		return "", installed{}, err
	}
	if conv, ok, err := in.announcedConversation(ctx, job); err != nil || ok {
		return conv, installed{newly: newly, route: metrics.RouteCache}, err
	}
	return "", installed{}, &notReadyError{since: now, cause: errNotInstalled}
}

// cached returns the user's conversation if it is cached.
func (in *Installer) cached(ctx context.Context, job broadcast.Job) (string, bool, error) {
	convs, err := in.store.Conversations(ctx, job.TenantID, []string{job.UserID})
	if err != nil {
		return "", false, err
	}
	conv, ok := convs[job.UserID]
	return conv, ok, nil
}

// lookup finds the conversation of a user who may have the app: through
// the Connector if its budget has room now, else through Graph if its
// lookups are not queued beyond GraphBacklog, else it answers a
// BacklogError. errNotInstalled: the user does not have the app.
func (in *Installer) lookup(ctx context.Context, job broadcast.Job, g Graph) (string, string, error) {
	var full *ratelimit.BacklogError
	if in.cfg.Connector != nil {
		conv, err := in.createConversation(ctx, job)
		switch {
		case err == nil:
			return conv, metrics.RouteConnector, nil
		case errors.As(err, &full):
		case teams.Classify(err) == teams.NotInstalled:
			return "", "", fmt.Errorf("%w: %w", errNotInstalled, err)
		case teams.Classify(err) == teams.Disabled, teams.Classify(err) == teams.Throttled, ctx.Err() != nil:
			return "", "", err
		default:
			// The Connector is in trouble (a 5xx, a timeout): Graph may
			// not be; its error, if it fails too, is the one kept.
			in.log.Debug("create conversation failed, trying Graph", zap.String("broadcast_id", job.BroadcastID),
				zap.String("user_id", job.UserID), zap.Error(err))
			full = &ratelimit.BacklogError{}
		}
	}
	if full != nil {
		// The Connector has no room: Graph, if its lookups are not queued
		// too long already. Both budgets taken: come back when one has room.
		if backlog := g.LookupBacklog(); backlog > in.cfg.GraphBacklog {
			return "", "", &ratelimit.BacklogError{Wait: min(full.Wait, backlog), Paused: full.Paused}
		}
		if !in.enterGraph(job.TenantID) {
			return "", "", &ratelimit.BacklogError{Wait: max(full.Wait, 50*time.Millisecond), Paused: full.Paused}
		}
		defer in.leaveGraph(job.TenantID)
	}
	appID, err := in.catalogID(ctx, job.TenantID, g)
	if err != nil {
		return "", "", err
	}
	instID, err := g.InstallationID(ctx, job.UserID, appID)
	if errors.Is(err, graph.ErrNotInstalled) {
		return "", "", fmt.Errorf("%w: %w", errNotInstalled, err)
	}
	if err != nil {
		return "", "", fmt.Errorf("find installation: %w", err)
	}
	chat, err := g.ChatID(ctx, job.UserID, instID)
	if errors.Is(err, graph.ErrNotFound) {
		// The installation is there and its chat is not: Teams is
		// creating it (the user exists: the installation was listed).
		return "", "", &notReadyError{since: time.Now(), cause: err}
	}
	if err != nil {
		return "", "", fmt.Errorf("find chat: %w", err)
	}
	return chat, metrics.RouteGraph, nil
}

// enterGraph admits a job to the tenant's Graph route while fewer than
// GraphRPS/2 x (GraphBacklog + 300 ms) jobs are on it: as many as keep
// Graph's lookups (two a user) queued for about GraphBacklog. Counting
// jobs, not Graph's queue, keeps many jobs that look at once from all
// taking the route before any of them has queued a request.
func (in *Installer) enterGraph(tenant string) bool {
	limit := int(math.Ceil(in.cfg.GraphRPS / 2 * (in.cfg.GraphBacklog + 300*time.Millisecond).Seconds()))
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.onGraph[tenant] >= max(limit, 1) {
		return false
	}
	in.onGraph[tenant]++
	return true
}

func (in *Installer) leaveGraph(tenant string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.onGraph[tenant]--; in.onGraph[tenant] <= 0 {
		delete(in.onGraph, tenant)
	}
}

// announcedConversation returns the conversation the bot endpoint cached
// for the user when Teams told it of the install, if a bot endpoint is
// deployed, waiting up to ConversationWait for it.
func (in *Installer) announcedConversation(ctx context.Context, job broadcast.Job) (string, bool, error) {
	if in.cfg.ConversationWait <= 0 {
		return "", false, nil
	}
	deadline := time.Now().Add(in.cfg.ConversationWait)
	for {
		conv, ok, err := in.cached(ctx, job)
		if err != nil || ok {
			if ok {
				in.log.Debug("conversation cached by the bot endpoint", zap.String("broadcast_id", job.BroadcastID), zap.String("user_id", job.UserID))
			}
			return conv, ok, err
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

// createConversation gets the user's conversation from the Connector if
// the tenant's budget has a slot within ConnectorAhead; otherwise it
// answers the gate's *ratelimit.BacklogError.
func (in *Installer) createConversation(ctx context.Context, job broadcast.Job) (string, error) {
	gate := in.cfg.Gates.For(job.TenantID)
	ticket, err := gate.Take(ctx)
	if err != nil {
		return "", err
	}
	start := time.Now()
	// The ticket checks the tenant's pause again right before the request
	// is written (a sender's 429 meanwhile), as the senders' do.
	conv, err := in.cfg.Connector.CreateConversation(teams.WithGuard(ctx, ticket), job.TenantID, job.UserID)
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
	var notReady *notReadyError
	var ge *graph.Error
	switch {
	case teams.Classify(cause) == teams.Disabled:
		reason, to = broadcast.ReasonBotDisabled, broadcast.StateBlocked
	case errors.As(cause, &ge) && ge.Status == http.StatusForbidden:
		// Graph refuses the install: the tenant's app permission policy
		// blocks the app for this user (or the app lacks its permission:
		// the error, kept with the recipient, says which).
		reason, to = broadcast.ReasonBotDisabled, broadcast.StateBlocked
	case errors.As(cause, &backlog):
		return queue.Retry(max(backlog.Wait, minWait), cause)
	case teams.Classify(cause) == teams.Throttled && errors.As(cause, &terr):
		return queue.Retry(max(terr.RetryAfter, time.Second), cause)
	case errors.As(cause, &notReady) && time.Since(notReady.since) < in.cfg.NotReadyFor && deliveries(msg) < maxNotReadyDeliveries:
		// Not a failure: Teams takes a few seconds to create the chat.
		delay := in.cfg.ChatDelay
		if age := time.Since(notReady.since); age > delay {
			delay = min(age, 15*time.Second)
		}
		log.Debug("chat not ready yet, will look again", zap.Duration("delay", delay), zap.Error(cause))
		return queue.Retry(delay, cause)
	case notReady != nil:
		reason = broadcast.ReasonInstallFailed
	case errors.Is(cause, graph.ErrNotFound):
		reason = broadcast.ReasonUserNotFound
	case errors.Is(cause, graph.ErrAppNotInCatalog):
		// A configuration problem, not this user's: keep the job and retry
		// slowly so that fixing TEAMS_APP_ID lets the broadcast carry on.
		log.Error("the app is not in the tenant's catalog", zap.Error(cause))
		return queue.Retry(time.Minute, cause)
	default:
		n := deliveries(msg)
		if n < in.cfg.MaxDeliveries {
			delay := retry.Policy{Base: in.cfg.RetryBase, Max: time.Minute}.Delay(n)
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
	return in.final(ctx, job, to, reason, cause, log)
}

// final records an install that ended (failed or blocked). A failure that
// may pass is kept for a replay before it is recorded, so that every
// failure recorded can be replayed; if it cannot be kept, the job is
// redelivered.
func (in *Installer) final(ctx context.Context, job broadcast.Job, to broadcast.State, reason broadcast.Reason, cause error, log *zap.Logger) error {
	if reason.Replayable() {
		f := broadcast.Failure{Job: job, Stage: broadcast.StageInstall, State: to, Reason: reason, LastError: cause.Error(), At: time.Now().UTC()}
		if err := in.pub.PublishFailure(ctx, f); err != nil {
			return err
		}
	}
	_, err := in.store.Transition(ctx, job.BroadcastID, job.UserID, store.Change{
		From: []broadcast.State{broadcast.StateInstalling}, To: to, Reason: reason, LastError: cause.Error(),
	})
	if errors.Is(err, store.ErrReportBehind) {
		log.Warn("recorded; the unreachable report is behind", zap.Error(err))
		return nil
	}
	return err
}

// DeadLetter ends the recipient of an install job that will not be
// delivered again (it panicked, or failed queue.DefaultMaxFailures times):
// failed, internal_error, kept in the FAILED stream for a replay. A
// recipient no longer installing was moved on by the job: nothing is
// recorded. It is the install stage's queue.DeadLetter.
func (in *Installer) DeadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	job, err := broadcast.DecodeJob(msg.Data())
	if err != nil {
		return nil // nothing to record: terminated
	}
	rec, err := in.store.Recipient(ctx, job.BroadcastID, job.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case rec.State != broadcast.StateInstalling:
		return nil
	}
	log := in.log.With(zap.String("broadcast_id", job.BroadcastID), zap.String("tenant_id", job.TenantID), zap.String("user_id", job.UserID))
	return in.final(ctx, job, broadcast.StateFailed, broadcast.ReasonInternalError, cause, log)
}

// markScope is the job's own: an install made for another broadcast may
// have been undone since.
func markScope(job broadcast.Job) string { return fmt.Sprintf("%s:%d", job.BroadcastID, job.Round) }

// maxNotReadyDeliveries bounds the deliveries of a job waiting for Teams
// to create a chat, beside NotReadyFor (each 409 notes the install again).
const maxNotReadyDeliveries = 40

func deliveries(msg jetstream.Msg) int {
	if md, err := msg.Metadata(); err == nil {
		return int(md.NumDelivered)
	}
	return 1
}

// minWait is the shortest wait of a job put back for a budget's backlog.
const minWait = 20 * time.Millisecond
