// Package dispatch accepts broadcasts and expands their audiences into jobs.
//
// Expansion walks the resolved audience (resolve.go) a page at a time,
// records each page's recipients in the store, then publishes one job per recipient with message ids that deduplicate
// republishes, and only then saves the cursor past the page. Reading,
// recording and waiting for acks overlap, a few pages at most (expand.go).
// A dispatcher that dies mid-way redoes the pages after the saved cursor on
// restart: known recipients keep their state and are not counted again,
// their jobs are deduplicated by JetStream, and a sender acks a job whose
// recipient is already settled. So nothing is lost and nothing is sent twice.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/directory"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/graph"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/wave"
)

// MaxActivityUnits is the payload budget of one activity in UTF-16 code
// units: Teams refuses about 100 KB; we stay below 80 KB.
const MaxActivityUnits = message.MaxActivityUnits

// Users is a tenant's directory in Graph: its users by delta query (the
// directory sync), a group's transitive user members and users by id or
// UPN (audience resolution).
type Users interface {
	UsersDelta(ctx context.Context, link string) (graph.DeltaPage, error)
	GroupMembersPage(ctx context.Context, groupID, next string) ([]graph.DirectoryUser, string, error)
	UsersByKey(ctx context.Context, keys []string) (map[string]graph.DirectoryUser, error)
}

var _ Users = (*graph.Client)(nil)

// Mailboxes reads users' mailbox time zones (localTime broadcasts); a
// tenant's Users must be one too for them.
type Mailboxes interface {
	MailboxTimeZones(ctx context.Context, userIDs []string) (map[string]string, error)
}

var _ Mailboxes = (*graph.Client)(nil)

// Config tunes a Dispatcher.
type Config struct {
	Tenants  []string // tenants served; the first is the default
	PageSize int      // recipients per page of an explicit list
	// ResumeEvery is how often expansions that stopped (an error, a crash of
	// another dispatcher) are looked for and resumed.
	ResumeEvery time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered
	// (default store.DefaultIdempotencyTTL, 24 h).
	IdempotencyTTL time.Duration
	// IdempotencyGrace is how long a claimed key whose broadcast is not
	// written yet is left to the create that claimed it before a retry
	// takes it over (default DefaultIdempotencyGrace). A create's write
	// cannot land later than store.Fence.Window after it began, far less.
	IdempotencyGrace time.Duration
	// ScheduleEvery is how often the scheduled broadcasts that are due are
	// looked for and started (default DefaultScheduleEvery, 1 s).
	ScheduleEvery time.Duration
	// Now is the clock sendAt and localTime are checked against, and zone
	// waves are due by (default time.Now).
	Now func() time.Time
	// TimeZone is the IANA zone of a localTime broadcast's recipients who
	// have none (default Etc/UTC).
	TimeZone string
	// Directory tunes the sync of tenants' directories before an
	// allUsers audience is resolved.
	Directory directory.Config
	// PermanentTries is how many times an expansion Graph refuses (a 403,
	// say) is tried before its broadcast fails (default
	// DefaultPermanentTries); ExpansionStall how long it may keep failing
	// on Graph otherwise, without progress (default
	// DefaultExpansionStall). See fail.go.
	PermanentTries int
	ExpansionStall time.Duration
	// PublishBudget is how long a replay's publish whose ack was lost is
	// published again before its outcome is unknown (default
	// store.DefaultFence.Budget).
	PublishBudget time.Duration
	// Approval holds back the broadcasts it names for an approver
	// (approval.go); its zero value holds back none.
	Approval Approval
	// ExpansionLease is how long a dispatcher's hold on an expansion
	// outlives its last renewal (default DefaultExpansionLease): one
	// dispatcher at a time expands a broadcast (lease.go).
	ExpansionLease time.Duration
	// ReminderPrefix leads the original's message in a reminder sent
	// without a message of its own (the dispatcher's REMINDER_PREFIX);
	// empty: the message as it was.
	ReminderPrefix string
	// ReminderRecheck is how often a create's reminder whose broadcast has
	// not completed is looked at again (default DefaultReminderRecheck).
	ReminderRecheck time.Duration
}

// Dispatcher creates broadcasts and runs their expansion.
type Dispatcher struct {
	cfg      Config
	store    *store.Store
	waves    *wave.Store
	engage   *engage.Store
	pub      *queue.Queue
	usersFor func(tenant string) (Users, error)
	syncer   *directory.Syncer // nil without usersFor
	log      *zap.Logger
	holder   string                    // this dispatcher's name on the leases it holds
	pageRead func(cursor string) error // a test's hook before each expansion page
	// renewLease is a test's hook before each renewal of an expansion
	// lease: false skips it, as a frozen process would.
	renewLease func() bool

	mu      sync.Mutex
	running map[string]bool
	stuck   map[string]int64 // broadcasts waiting with no job at the last Reconcile, and how many recipients
	// stuckChanges: the same for edits and recalls (op:broadcast:round).
	stuckChanges map[string]int64
	wg           sync.WaitGroup
	ctx          context.Context // owns every expansion; set by Run

	replayedOne func() // tests: called after each recipient a replay queues
}

// New returns a Dispatcher; usersFor returns the user directory of a tenant.
func New(cfg Config, st *store.Store, pub *queue.Queue, usersFor func(tenant string) (Users, error), log *zap.Logger) *Dispatcher {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.ResumeEvery <= 0 {
		cfg.ResumeEvery = 30 * time.Second
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = store.DefaultIdempotencyTTL
	}
	if cfg.IdempotencyGrace <= 0 {
		cfg.IdempotencyGrace = DefaultIdempotencyGrace
	}
	if cfg.ScheduleEvery <= 0 {
		cfg.ScheduleEvery = DefaultScheduleEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PermanentTries <= 0 {
		cfg.PermanentTries = DefaultPermanentTries
	}
	if cfg.ExpansionStall <= 0 {
		cfg.ExpansionStall = DefaultExpansionStall
	}
	if cfg.PublishBudget <= 0 {
		cfg.PublishBudget = store.DefaultFence.Budget
	}
	if cfg.ExpansionLease <= 0 {
		cfg.ExpansionLease = DefaultExpansionLease
	}
	if cfg.ReminderRecheck <= 0 {
		cfg.ReminderRecheck = DefaultReminderRecheck
	}
	d := &Dispatcher{cfg: cfg, store: st, pub: pub, usersFor: usersFor, log: log, running: make(map[string]bool),
		holder: uuid.NewString()}
	if st != nil { // nil in tests of prepare alone
		d.waves = wave.New(st.Client(), st.Keyspace)
		d.engage = engage.New(st.Client(), st.Keyspace)
	}
	if usersFor != nil {
		d.syncer = directory.New(cfg.Directory, st, func(tenant string) (directory.Source, error) {
			u, err := usersFor(tenant)
			if err != nil {
				return nil, err
			}
			if gs, ok := u.(directory.GroupSource); ok {
				return graphGroupSource{graphSource{u}, gs}, nil
			}
			return graphSource{u}, nil
		}, log.Named("directory"))
	}
	return d
}

// Run resumes unfinished expansions, then keeps resuming stopped ones and
// starting the scheduled broadcasts that come due (watchScheduled) until
// ctx is done, and waits for the expansions in flight to stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	d.spawn("schedule", d.watchScheduled)
	t := time.NewTicker(d.cfg.ResumeEvery)
	defer t.Stop()
	for {
		d.resume(ctx)
		d.Reconcile(ctx)
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

func (d *Dispatcher) resume(ctx context.Context) {
	ids, err := d.store.Expanding(ctx)
	if err != nil {
		d.log.Warn("list expansions to resume", zap.Error(err))
		return
	}
	for _, id := range ids {
		d.start(id)
	}
	ids, err = d.store.Canceling(ctx)
	if err != nil {
		d.log.Warn("list cancels to resume", zap.Error(err))
		return
	}
	for _, id := range ids {
		d.startSweep(id)
	}
	d.resumeChanges(ctx)
}

// Create validates a request, records the broadcast and starts its
// expansion. A *broadcast.ValidationError means the request was refused.
func (d *Dispatcher) Create(ctx context.Context, req *broadcast.CreateRequest) (*broadcast.Broadcast, error) {
	b, activity, err := d.prepare(req)
	if err != nil {
		return nil, err
	}
	if err := d.checkSchedule(ctx, b); err != nil {
		return nil, err
	}
	if err := d.record(ctx, b, activity); err != nil {
		return nil, err
	}
	return b, nil
}

// prepare checks what only the dispatcher can check (the tenant, the
// activity and its size) and returns the broadcast to record, with a new
// id, and its activity. It touches nothing outside.
func (d *Dispatcher) prepare(req *broadcast.CreateRequest) (*broadcast.Broadcast, []byte, error) {
	tenant := req.TenantID
	if tenant == "" {
		tenant = d.cfg.Tenants[0]
	} else if !contains(d.cfg.Tenants, tenant) {
		return nil, nil, broadcast.Invalid("tenantId", "this deployment does not serve tenant %s", tenant)
	}
	activity, err := message.Build(req.Message)
	if err != nil {
		return nil, nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, nil, fmt.Errorf("new broadcast id: %w", err)
	}
	now := d.cfg.Now().UTC()
	b := &broadcast.Broadcast{ID: id.String(), TenantID: tenant, Message: req.Message, Audience: req.Audience,
		Priority: req.Priority.OrNormal(), Status: broadcast.StatusExpanding, Kind: broadcast.KindBroadcast,
		CreatedBy: req.CreatedBy, CreatedAt: now.Truncate(time.Millisecond)}
	if at, ok := req.SendTime(); ok {
		b.SendAt = &at
		if at.After(now) {
			b.Status = broadcast.StatusScheduled
		}
	}
	if lt, ok := req.LocalTimeOf(); ok {
		scheduleLocal(b, lt, now)
	}
	if err := d.scheduleReminders(b, req.Reminders, activity); err != nil {
		return nil, nil, err
	}
	if rule := d.cfg.Approval.Policy.Requires(b.Audience); rule != "" {
		// It keeps its sendAt: an approval schedules it, or starts it when
		// the time has passed.
		b.Status, b.Approval = broadcast.StatusPendingApproval, &broadcast.Approval{Rule: rule}
	}
	return b, activity, nil
}

// record writes the broadcast and starts its expansion.
func (d *Dispatcher) record(ctx context.Context, b *broadcast.Broadcast, activity []byte) error {
	if err := d.store.CreateBroadcast(ctx, b, activity); err != nil {
		return err
	}
	fields := []zap.Field{zap.String("broadcast_id", b.ID), zap.String("tenant_id", b.TenantID),
		zap.String("priority", string(b.Priority)), zap.Bool("all_users", b.Audience.AllUsers), zap.Int("groups", len(b.Audience.GroupIDs)),
		zap.Int("listed_users", len(b.Audience.UserIDs)), zap.Int("listed_upns", len(b.Audience.UPNs))}
	switch b.Kind {
	case broadcast.KindPreview:
		fields = append(fields, zap.String("kind", string(b.Kind)), zap.String("preview_of", b.PreviewOf))
	case broadcast.KindReminder:
		fields = append(fields, zap.String("kind", string(b.Kind)), zap.String("reminder_of", b.ReminderOf))
	}
	if b.Status == broadcast.StatusPendingApproval {
		d.log.Info("broadcast waits for approval", append(fields, zap.String("rule", b.Approval.Rule))...)
		d.requestApproval(ctx, b)
		return nil
	}
	if b.Status == broadcast.StatusScheduled {
		d.log.Info("broadcast scheduled", append(fields, zap.Time("send_at", *b.SendAt))...)
		return nil
	}
	d.log.Info("broadcast accepted", fields...)
	d.start(b.ID)
	return nil
}

// Serves reports whether the dispatcher serves tenant.
func (d *Dispatcher) Serves(tenant string) bool { return contains(d.cfg.Tenants, tenant) }

// start runs the broadcast's expansion unless it runs already or the
// dispatcher is not running (then Run's resume picks it up).
func (d *Dispatcher) start(id string) {
	d.spawn("expand:"+id, func(ctx context.Context) {
		d.runExpansion(ctx, id, d.log.With(zap.String("broadcast_id", id)))
	})
}

// spawn runs f in a goroutine owned by Run's context, unless a task with
// the same key runs already or the dispatcher is not running.
func (d *Dispatcher) spawn(key string, f func(ctx context.Context)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.ctx.Err() != nil || d.running[key] {
		return
	}
	d.running[key] = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			delete(d.running, key)
			d.mu.Unlock()
		}()
		f(d.ctx)
	}()
}

// expand publishes the broadcast's audience from where it stopped.
func (d *Dispatcher) expand(ctx context.Context, id string, log *zap.Logger) error {
	b, err := d.store.Broadcast(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// No record: a creation that failed half-way long ago, or one whose
		// record is being written this instant (it is registered first).
		return d.store.ForgetStale(ctx, id, time.Minute)
	}
	if err != nil {
		return err
	}
	if !contains(d.cfg.Tenants, b.TenantID) {
		// Another deployment's broadcast in a shared Redis: its own
		// dispatcher, which has the tenant's credentials, expands it.
		log.Debug("not expanding a broadcast of a tenant this dispatcher does not serve", zap.String("tenant_id", b.TenantID))
		return nil
	}
	log = log.With(zap.String("tenant_id", b.TenantID))
	if b.Status == broadcast.StatusScheduled || b.Status == broadcast.StatusPendingApproval || b.Status == broadcast.StatusRejected {
		// Not started yet (or never to be): StartScheduled and an approval
		// register it for expansion in the script that starts it, never
		// before.
		log.Warn("not expanding a broadcast that has not started", zap.String("status", string(b.Status)))
		return nil
	}
	ctx, release, held, err := d.holdExpansion(ctx, id, log)
	if err != nil {
		return err
	}
	if !held {
		log.Debug("another dispatcher expands this broadcast")
		return nil
	}
	defer release()
	// Read again under the lease: the last holder may have finished the
	// expansion, or it may have been canceled, since.
	if b, err = d.store.Broadcast(ctx, id); err != nil {
		return leaseLost(ctx, err)
	}
	return leaseLost(ctx, d.expandHeld(ctx, b, log))
}

// expandHeld resolves and expands the broadcast, whose lease is held.
func (d *Dispatcher) expandHeld(ctx context.Context, b *broadcast.Broadcast, log *zap.Logger) error {
	id := b.ID
	switch b.Status {
	case broadcast.StatusCanceling, broadcast.StatusCanceled:
		return d.stopCanceled(ctx, id, log)
	case broadcast.StatusSending, broadcast.StatusCompleted, broadcast.StatusFailed:
		// Expanded (or failed) already: only its registration was left.
		_, err := d.store.FinishExpansion(ctx, id)
		return err
	}
	res, err := d.store.Resolution(ctx, id)
	if err != nil {
		return err
	}
	finished := false
	stopped := metrics.ExpansionStarted(b.TenantID)
	defer func() { stopped(finished) }()
	if !res.Done {
		// The audience is resolved, and its size recorded, before any job.
		if err := d.resolve(ctx, b, res, log); errors.Is(err, store.ErrCanceled) {
			return d.stopCanceled(ctx, id, log)
		} else if err != nil {
			return err
		}
	}
	if err := d.pub.EnsureConsumers(ctx, b.TenantID, b.ID, b.Priority); err != nil {
		return err
	}
	if b.LocalTime != nil {
		all, err := d.expandWaves(ctx, b, log)
		if errors.Is(err, store.ErrCanceled) {
			return d.stopCanceled(ctx, id, log)
		}
		if err != nil || !all {
			return err // the next due wave's start runs it again
		}
	} else if err := d.expandAudience(ctx, b, log); errors.Is(err, store.ErrCanceled) {
		return d.stopCanceled(ctx, id, log)
	} else if err != nil {
		return err
	}
	completed, err := d.store.FinishExpansion(ctx, id)
	if err != nil {
		return err
	}
	finished = true
	b, err = d.store.Broadcast(ctx, id)
	if err != nil {
		return err
	}
	log.Info("audience expanded", zap.Int64("recipients", b.Counts.Total), zap.Bool("completed", completed))
	return nil
}

// expandAudience queues the whole resolved audience from the saved cursor.
func (d *Dispatcher) expandAudience(ctx context.Context, b *broadcast.Broadcast, log *zap.Logger) error {
	cursor, err := d.store.ExpansionCursor(ctx, b.ID)
	if err != nil {
		return err
	}
	if cursor != "" {
		log.Info("resuming expansion")
	}
	return d.expandFrom(ctx, b, cursor, source{next: d.pager(b), save: func(ctx context.Context, after string) error {
		return d.store.SaveExpansionCursor(ctx, b.ID, d.holder, after)
	}})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
