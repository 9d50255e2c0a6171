package teamsim

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Sim simulates Entra ID's token endpoint, the Graph endpoints a broadcast
// uses and the Bot Connector, for the tenants of its Config. It is safe for
// concurrent use.
type Sim struct {
	cfg Config
	log *zap.Logger

	tenants map[string]*tenantState // by lower-case id and by domain
	order   []*tenantState          // as configured

	convs  shardedMap[*convRef] // conversation id (either form) -> installation
	tokens shardedMap[*grant]
	issued atomic.Int64

	led         ledger
	graphFaults graphFaults // InjectGraph

	errorRate        atomic.Uint64 // float64 bits
	preconditionRate atomic.Uint64 // float64 bits
	gatewayDelivered atomic.Uint64 // float64 bits
	latency          atomic.Int64  // time.Duration
	jitter           atomic.Int64  // time.Duration
	slowRate         atomic.Uint64 // float64 bits
	slowLatency      atomic.Int64  // time.Duration

	activitySeq atomic.Int64 // activity ids: epoch milliseconds, then counting up

	botKey  botKey                 // signs the activities posted to the bot
	idp     idp                    // the console's identity provider (idp.go)
	poster  *botPoster             // nil without Config.BotEndpoint
	engager *engager               // nil without Config.Engagement (and a bot endpoint)
	base    atomic.Pointer[string] // the base URL clients last reached the simulator at

	bufs sync.Pool // *[]byte for request bodies and answers

	now   func() time.Time
	epoch time.Time
	mux   *http.ServeMux
}

// New validates cfg and builds the population of every tenant.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, log: cfg.Logger, tenants: make(map[string]*tenantState, 2*len(cfg.Tenants)), now: time.Now}
	s.epoch = s.now()
	s.activitySeq.Store(s.epoch.UnixMilli())
	s.errorRate.Store(math.Float64bits(cfg.ErrorRate))
	s.preconditionRate.Store(math.Float64bits(cfg.PreconditionRate))
	s.gatewayDelivered.Store(math.Float64bits(cfg.GatewayDeliveredRate))
	s.latency.Store(int64(cfg.Latency))
	s.jitter.Store(int64(cfg.LatencyJitter))
	s.slowRate.Store(math.Float64bits(cfg.SlowRate))
	s.slowLatency.Store(int64(cfg.SlowLatency))
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	for _, id := range cfg.Tenants {
		t := s.newTenant(id)
		s.order = append(s.order, t)
		s.tenants[id] = t
	}
	for _, t := range s.order {
		if _, taken := s.tenants[t.domain]; !taken {
			s.tenants[t.domain] = t
		}
	}
	if cfg.BotEndpoint != "" {
		s.poster = newBotPoster(cfg.BotEndpoint)
		if cfg.Engagement.on() {
			s.engager = newEngager(s)
			s.engager.start(s.poster)
		}
	}
	if cfg.PublicURL != "" {
		s.base.Store(&cfg.PublicURL) // known before any request
	}
	s.routes()
	for _, t := range s.order {
		var installed, blocked, disabled, guests int
		for _, u := range t.users {
			installed += b2i(u.u.Installed)
			blocked += b2i(u.u.Blocked)
			disabled += b2i(u.u.Disabled)
			guests += b2i(u.u.UserType == "Guest")
		}
		s.log.Info("tenant simulated", zap.String("tenant_id", t.id), zap.String("catalog_app_id", t.catalogID),
			zap.Int("users", len(t.users)), zap.Int("installed", installed), zap.Int("blocked", blocked),
			zap.Int("disabled", disabled), zap.Int("guests", guests))
	}
	return s, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clock is the time since the sim's epoch, the time base of the rate
// limits and token expiry.
func (s *Sim) clock() time.Duration { return s.now().Sub(s.epoch) }

// setClock replaces the clock; tests call it before the first request.
func (s *Sim) setClock(now func() time.Time) {
	s.now = now
	s.epoch = now()
}

// Handler serves the token endpoint under /login, Graph under
// /graph/v1.0, the Bot Connector under /connector/, the Bot Framework's
// OpenID metadata and keys under /botframework/ and the control
// endpoints under /_sim.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Sim) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /login/{tenant}/oauth2/v2.0/token", s.handleTokenGrant) // idp.go: authorization codes

	m.HandleFunc("GET /graph/v1.0/users", s.handleUsers)
	m.HandleFunc("GET /graph/v1.0/users/delta", s.handleUsersDelta)
	m.HandleFunc("GET /graph/v1.0/users/{user}", s.handleUser)
	m.HandleFunc("GET /graph/v1.0/users/{user}/mailboxSettings", s.handleMailboxSettings)
	m.HandleFunc("GET /graph/v1.0/users/{user}/mailboxSettings/timeZone", s.handleMailboxSettings)
	m.HandleFunc("GET /graph/v1.0/groups", s.handleGroups)
	m.HandleFunc("GET /graph/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user", s.handleGroupMembers)
	m.HandleFunc("GET /graph/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user/$count", s.handleGroupMemberCount)
	m.HandleFunc("POST /graph/v1.0/$batch", s.handleBatch)
	m.HandleFunc("GET /graph/v1.0/appCatalogs/teamsApps", s.handleCatalog)
	m.HandleFunc("POST /graph/v1.0/users/{user}/teamwork/installedApps", s.handleInstall)
	m.HandleFunc("GET /graph/v1.0/users/{user}/teamwork/installedApps", s.handleInstalledApps)
	m.HandleFunc("GET /graph/v1.0/users/{user}/teamwork/installedApps/{installation}/chat", s.handleChat)
	m.HandleFunc("/graph/", s.handleGraphUnknown)

	m.HandleFunc("POST /connector/v3/conversations", s.handleCreateConversation)
	m.HandleFunc("POST /connector/v3/conversations/{conv}/activities", s.handleSend)
	m.HandleFunc("POST /connector/v3/conversations/{conv}/activities/{activity}", s.handleSend) // reply: a send in a 1:1 chat
	m.HandleFunc("PUT /connector/v3/conversations/{conv}/activities/{activity}", s.handleUpdate)
	m.HandleFunc("DELETE /connector/v3/conversations/{conv}/activities/{activity}", s.handleDelete)
	m.HandleFunc("/connector/", s.handleConnectorUnknown)

	m.HandleFunc("GET "+BotOpenIDMetadataPath, s.handleBotMetadata)
	m.HandleFunc("GET "+BotJWKSPath, s.handleBotKeys)

	s.idpRoutes(m)
	s.controlRoutes(m)
	s.directoryControlRoutes(m)
	s.mux = m
}

// tenant finds a configured tenant by id or domain.
func (s *Sim) tenant(id string) (*tenantState, bool) {
	t, ok := s.tenants[strings.ToLower(id)]
	return t, ok
}

func (s *Sim) user(tenant, userID string) (*userState, error) {
	t, ok := s.tenant(tenant)
	if !ok {
		return nil, fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.RLock()
	u, ok := t.byKey[strings.ToLower(userID)]
	t.dir.RUnlock()
	if !ok {
		return nil, fmt.Errorf("teamsim: unknown user %q in tenant %s", userID, t.id)
	}
	return u, nil
}

// Users returns the tenant's population in id order, with each user's
// current state; nil for an unknown tenant.
func (s *Sim) Users(tenant string) []User {
	t, ok := s.tenant(tenant)
	if !ok {
		return nil
	}
	t.dir.RLock()
	defer t.dir.RUnlock()
	out := make([]User, len(t.users))
	for i, u := range t.users {
		u.mu.Lock()
		out[i] = u.u
		u.mu.Unlock()
	}
	return out
}

// Ledger returns a snapshot of the ledger.
func (s *Sim) Ledger() Ledger { return s.led.snapshot() }

// UserDeliveries returns the messages the user received since the last
// Reset, oldest first.
func (s *Sim) UserDeliveries(tenant, userID string) []Delivery {
	u, err := s.user(tenant, userID)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.deliveries)
}

// Activity is a message the bot sent to a user, as the chat holds it now.
type Activity struct {
	ID string `json:"id"`
	// ContentHash is the message's content now (as Delivery.ContentHash):
	// the send's, or the last update's. History lists the content hashes
	// it had, the send's first, then each update's (the last 16).
	ContentHash string   `json:"contentHash"`
	History     []string `json:"history"`
	Updates     int      `json:"updates"` // updates answered 200
	Deleted     bool     `json:"deleted"` // deleted (answered 200)
}

// UserActivities returns the messages the bot sent to the user that have
// an id (every send but a split one), oldest first, with their current
// content and whether they were deleted. Unlike the deliveries, Reset
// leaves them: they are the chat's state.
func (s *Sim) UserActivities(tenant, userID string) []Activity {
	u, err := s.user(tenant, userID)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]Activity, len(u.sent))
	for i, a := range u.sent {
		out[i] = Activity{ID: a.id, ContentHash: a.history[len(a.history)-1], History: slices.Clone(a.history),
			Updates: a.updates, Deleted: a.deleted}
	}
	return out
}

// Fault is an answer to force on a user's next Connector sends, creates,
// updates and deletes.
type Fault struct {
	Status int    `json:"status"` // default 500, or 403 for Code "209"
	Code   string `json:"code"`   // error code; "209" gives the errorCode 209 MessageWritesBlocked body; default by status
	Times  int    `json:"times"`  // how many requests; default 1
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) and
	// blocks the tenant's Connector calls for as long.
	RetryAfter time.Duration `json:"-"`
	// Delivered, for a 502 or 504 on a send, answers it after the message
	// was delivered (Ledger.DeliveredWithError); creates, updates and
	// deletes get the error alone.
	Delivered bool `json:"delivered"`
	// OnCreate lets the fault answer the user's create conversation too;
	// without it a fault waits for the user's message calls (sends,
	// updates, deletes), whichever route found the conversation.
	OnCreate bool `json:"onCreate"`
}

// Inject makes the next f.Times Connector sends, updates and deletes (and
// creates, with f.OnCreate) for the user answer f. An unknown tenant or user is logged and ignored.
func (s *Sim) Inject(tenant, userID string, f Fault) {
	if err := s.inject(tenant, userID, f); err != nil {
		s.log.Warn("fault not injected", zap.Error(err))
	}
}

func (s *Sim) inject(tenant, userID string, f Fault) error {
	u, err := s.user(tenant, userID)
	if err != nil {
		return err
	}
	if f, err = normalizeFault(f); err != nil {
		return err
	}
	u.mu.Lock()
	u.faults = append(u.faults, f)
	u.mu.Unlock()
	s.log.Info("fault injected", zap.String("tenant_id", u.tenant.id), zap.String("user_id", u.u.ID),
		zap.Int("status", f.Status), zap.String("code", f.Code), zap.Int("times", f.Times), zap.Duration("retry_after", f.RetryAfter))
	return nil
}

// InjectTenant makes the next f.Times Connector sends, updates and deletes
// to any user of the tenant answer f, before any fault injected for the user. A 429 with a
// RetryAfter is a burst of throttling: it blocks the tenant's Connector
// calls for as long, and every call in that time is answered 429 too. An
// unknown tenant is logged and ignored.
func (s *Sim) InjectTenant(tenant string, f Fault) {
	if err := s.injectTenant(tenant, f); err != nil {
		s.log.Warn("fault not injected", zap.Error(err))
	}
}

func (s *Sim) injectTenant(tenant string, f Fault) error {
	t, ok := s.tenant(tenant)
	if !ok {
		return fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	f, err := normalizeFault(f)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.faults = append(t.faults, f)
	t.mu.Unlock()
	s.log.Info("tenant fault injected", zap.String("tenant_id", t.id),
		zap.Int("status", f.Status), zap.String("code", f.Code), zap.Int("times", f.Times), zap.Duration("retry_after", f.RetryAfter))
	return nil
}

// takeFault consumes one fault injected for the whole tenant.
func (t *tenantState) takeFault() (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return takeFirst(&t.faults)
}

// normalizeFault fills in a fault's defaults and checks its status.
func normalizeFault(f Fault) (Fault, error) {
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
		if f.Code == BlockShape209 {
			f.Status = http.StatusForbidden
		}
	}
	if f.Status < 100 || f.Status >= maxStatus {
		return f, fmt.Errorf("teamsim: fault status %d is not an HTTP status", f.Status)
	}
	if f.Code == "" {
		f.Code = defaultConnectorCode(f.Status)
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.Delivered && !isGateway(f.Status) {
		return f, fmt.Errorf("teamsim: a fault delivered before its answer must be a 502 or 504, not %d", f.Status)
	}
	return f, nil
}

// takeFault consumes one injected fault of u. Caller holds u.mu.
func (u *userState) takeFault() (Fault, bool) { return takeFirst(&u.faults) }

// takeCreateFault is takeFault for a create conversation: only a fault
// meant for creates answers it. Caller holds u.mu.
func (u *userState) takeCreateFault() (Fault, bool) {
	if len(u.faults) == 0 || !u.faults[0].OnCreate {
		return Fault{}, false
	}
	return takeFirst(&u.faults)
}

// takeFirst consumes one use of the first fault of a queue.
func takeFirst(faults *[]Fault) (Fault, bool) {
	q := *faults
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0]
	if q[0].Times--; q[0].Times <= 0 {
		*faults = q[1:]
	}
	return f, true
}

// Uninstall removes the app for the user, as the user or an admin would:
// the installation's conversation ids now answer 403
// BotNotInConversationRoster, and a later install makes a new chat. With
// a bot endpoint, the bot is told (installationUpdate remove), from
// Config.PublicURL or else the base URL clients last reached the simulator
// at.
func (s *Sim) Uninstall(tenant, userID string) {
	if err := s.uninstall(tenant, userID); err != nil {
		s.log.Warn("not uninstalled", zap.Error(err))
	}
}

func (s *Sim) uninstall(tenant, userID string) error {
	u, err := s.user(tenant, userID)
	if err != nil {
		return err
	}
	u.mu.Lock()
	was := u.u.Installed
	u.u.Installed = false
	var chat string
	if u.conv != nil {
		chat = u.conv.chatID
	}
	u.mu.Unlock()
	if was && s.poster != nil {
		if base := s.base.Load(); base != nil {
			s.postUninstalled(*base, u.tenant.id, u.u.ID, chat)
		} else {
			s.log.Warn("uninstall not posted to the bot: no request reached the simulator yet, so its URL is unknown",
				zap.String("tenant_id", u.tenant.id), zap.String("user_id", u.u.ID))
		}
	}
	return nil
}

// noteBase remembers the base URL a request reached the simulator at (or
// Config.PublicURL): the serviceUrl of the activities it posts outside a
// request.
func (s *Sim) noteBase(r *http.Request) {
	b := s.publicBase(r)
	if cur := s.base.Load(); cur == nil || *cur != b {
		s.base.Store(&b)
	}
}

// SetFaults changes the random fault rates of Connector sends and the
// latency of every Connector and Graph answer (not its jitter: SetLatency).
func (s *Sim) SetFaults(errorRate, preconditionRate float64, latency time.Duration) {
	clamp := func(v float64) float64 {
		if math.IsNaN(v) {
			return 0
		}
		return min(max(v, 0), 1)
	}
	errorRate, preconditionRate = clamp(errorRate), clamp(preconditionRate)
	if errorRate+preconditionRate > 1 {
		preconditionRate = 1 - errorRate
	}
	s.errorRate.Store(math.Float64bits(errorRate))
	s.preconditionRate.Store(math.Float64bits(preconditionRate))
	s.latency.Store(int64(max(latency, 0)))
}

// SetLatency changes the latency of every Connector and Graph answer:
// latency plus a uniform [0, jitter).
func (s *Sim) SetLatency(latency, jitter time.Duration) {
	s.latency.Store(int64(max(latency, 0)))
	s.jitter.Store(int64(max(jitter, 0)))
}

// SetGatewayDelivered changes the fraction of the random 502 and 504
// answers given after the message was delivered (Config.GatewayDeliveredRate).
func (s *Sim) SetGatewayDelivered(rate float64) {
	if math.IsNaN(rate) {
		rate = 0
	}
	s.gatewayDelivered.Store(math.Float64bits(min(max(rate, 0), 1)))
}

// SetSlow changes the fraction of Connector sends (and of the updates and
// deletes carried out) answered SlowLatency late (Config.SlowRate).
func (s *Sim) SetSlow(rate float64, latency time.Duration) {
	if math.IsNaN(rate) {
		rate = 0
	}
	s.slowRate.Store(math.Float64bits(min(max(rate, 0), 1)))
	s.slowLatency.Store(int64(max(latency, 0)))
}

// Reset clears the ledger: the counters and every user's deliveries. The
// state of the simulated services (installations, messages, rate limits,
// tokens, pending faults) stays. Requests in flight during Reset may be
// counted on either side of it.
func (s *Sim) Reset() {
	s.led.reset()
	for _, t := range s.order {
		t.dir.RLock()
		for _, u := range t.users {
			u.mu.Lock()
			u.deliveries, u.hashes, u.engaged = nil, nil, nil
			u.mu.Unlock()
		}
		t.dir.RUnlock()
	}
}

// getBuf and putBuf recycle byte slices for bodies.
func (s *Sim) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Sim) putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // do not keep the rare huge body
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}
