package teamsim

import (
	"sync/atomic"
	"time"
)

// Ledger is a snapshot of what the simulator saw and answered.
type Ledger struct {
	Deliveries     int64 `json:"deliveries"`     // successful sends (201)
	DeliveredUsers int64 `json:"deliveredUsers"` // distinct users with at least one delivery
	Duplicates     int64 `json:"duplicates"`     // deliveries of content the user had already received
	// UnansweredDeliveries counts deliveries whose 201 the client did not
	// wait for (it timed out or went away first): the user has the
	// message, the client cannot know it.
	UnansweredDeliveries int64 `json:"unansweredDeliveries"`
	// DeliveredWithError counts deliveries answered 502 or 504
	// (GatewayDeliveredRate, Fault.Delivered): the user has the message,
	// the client was told it failed.
	DeliveredWithError int64 `json:"deliveredWithError"`
	Throttled          int64 `json:"throttled"` // 429s answered (Connector and Graph, injected ones too)
	// RetryAfterViolations counts requests that arrived while a Retry-After
	// given to their scope (a tenant's Connector calls, a conversation, a
	// tenant's Graph installedApps GETs or POSTs) had not passed yet.
	RetryAfterViolations int64 `json:"retryAfterViolations"`
	Installs             int64 `json:"installs"`         // Graph installs answered 201
	InstallConflicts     int64 `json:"installConflicts"` // Graph installs answered 409
	// InstallsForbidden counts Graph installs answered 403: the tenant's
	// app permission policy blocks the app for the user.
	InstallsForbidden int64 `json:"installsForbidden"`
	Updates           int64 `json:"updates"` // Connector updates answered 200
	Deletes           int64 `json:"deletes"` // Connector deletes answered 200
	// BotActivities counts the activities posted to the bot's endpoint
	// (each once, whatever its tries), BotActivitiesFailed those it did
	// not take, and BotAnswers its answers by status (0: none, a timeout
	// or a refused connection).
	BotActivities       int64            `json:"botActivities"`
	BotActivitiesFailed int64            `json:"botActivitiesFailed"`
	BotAnswers          map[int]int64    `json:"botAnswers"`
	Requests            map[string]int64 `json:"requests"` // requests by endpoint kind (see the Kind constants)
	Status              map[int]int64    `json:"status"`   // simulated-service answers by status code
}

// Delivery is one message a user received.
type Delivery struct {
	ActivityID  string    `json:"activityId"` // empty when Teams split the message and gave no id
	ContentHash string    `json:"contentHash"`
	At          time.Time `json:"at"`
}

// Endpoint kinds, the keys of Ledger.Requests.
const (
	KindToken             = "token"
	KindGraphUsers        = "graph_users"
	KindGraphCatalog      = "graph_catalog"
	KindGraphInstall      = "graph_install"
	KindGraphInstalledGet = "graph_installed_get"
	KindGraphChat         = "graph_chat"
	KindConnectorCreate   = "connector_create"
	KindConnectorSend     = "connector_send"
	KindConnectorUpdate   = "connector_update"
	KindConnectorDelete   = "connector_delete"
	KindGraphUsersDelta   = "graph_users_delta"
	KindGraphUser         = "graph_user"
	KindGraphBatch        = "graph_batch"
	KindGraphGroupMembers = "graph_group_members"
	KindBotMetadata       = "bot_metadata" // the Bot Framework's OpenID metadata
	KindBotKeys           = "bot_keys"     // the Bot Framework's signing keys
)

type kind int

const (
	kindToken kind = iota
	kindGraphUsers
	kindGraphCatalog
	kindGraphInstall
	kindGraphInstalledGet
	kindGraphChat
	kindConnectorCreate
	kindConnectorSend
	kindConnectorUpdate
	kindConnectorDelete
	kindGraphUsersDelta
	kindGraphUser
	kindGraphBatch
	kindGraphGroupMembers
	kindBotMetadata
	kindBotKeys
	kindCount
	kindNone kind = -1 // not one of the counted endpoints
)

var kindNames = [kindCount]string{KindToken, KindGraphUsers, KindGraphCatalog, KindGraphInstall, KindGraphInstalledGet,
	KindGraphChat, KindConnectorCreate, KindConnectorSend, KindConnectorUpdate, KindConnectorDelete,
	KindGraphUsersDelta, KindGraphUser, KindGraphBatch, KindGraphGroupMembers, KindBotMetadata, KindBotKeys}

const maxStatus = 600

// ledger is the live, lock-free form of Ledger. The per-user deliveries
// live with each user.
type ledger struct {
	deliveries, deliveredUsers, duplicates atomic.Int64
	unanswered, deliveredWithError         atomic.Int64
	throttled, violations                  atomic.Int64
	installs, conflicts, updates, deletes  atomic.Int64
	installsForbidden                      atomic.Int64
	requests                               [kindCount]atomic.Int64
	status                                 [maxStatus]atomic.Int64
	botActivities, botFailed               atomic.Int64
	botAnswers                             [maxStatus]atomic.Int64
}

func (l *ledger) botAnswer(status int) {
	if status >= 0 && status < maxStatus {
		l.botAnswers[status].Add(1)
	}
}

func (l *ledger) request(k kind) {
	if k >= 0 && k < kindCount {
		l.requests[k].Add(1)
	}
}

func (l *ledger) answered(status int) {
	if status >= 0 && status < maxStatus {
		l.status[status].Add(1)
	}
}

func (l *ledger) snapshot() Ledger {
	out := Ledger{
		Deliveries:           l.deliveries.Load(),
		DeliveredUsers:       l.deliveredUsers.Load(),
		Duplicates:           l.duplicates.Load(),
		UnansweredDeliveries: l.unanswered.Load(),
		DeliveredWithError:   l.deliveredWithError.Load(),
		Throttled:            l.throttled.Load(),
		RetryAfterViolations: l.violations.Load(),
		Installs:             l.installs.Load(),
		InstallConflicts:     l.conflicts.Load(),
		InstallsForbidden:    l.installsForbidden.Load(),
		Updates:              l.updates.Load(),
		Deletes:              l.deletes.Load(),
		Requests:             make(map[string]int64, kindCount),
		Status:               make(map[int]int64),
		BotActivities:        l.botActivities.Load(),
		BotActivitiesFailed:  l.botFailed.Load(),
		BotAnswers:           make(map[int]int64),
	}
	for code := range l.botAnswers {
		if n := l.botAnswers[code].Load(); n != 0 {
			out.BotAnswers[code] = n
		}
	}
	for k := range l.requests {
		out.Requests[kindNames[k]] = l.requests[k].Load()
	}
	for code := range l.status {
		if n := l.status[code].Load(); n != 0 {
			out.Status[code] = n
		}
	}
	return out
}

func (l *ledger) reset() {
	for _, c := range []*atomic.Int64{&l.deliveries, &l.deliveredUsers, &l.duplicates, &l.unanswered, &l.deliveredWithError, &l.throttled, &l.violations,
		&l.installs, &l.conflicts, &l.installsForbidden, &l.updates, &l.deletes, &l.botActivities, &l.botFailed} {
		c.Store(0)
	}
	for k := range l.requests {
		l.requests[k].Store(0)
	}
	for code := range l.status {
		l.status[code].Store(0)
		l.botAnswers[code].Store(0)
	}
}

// recordDelivery notes a 201 to u. Caller holds u.mu.
func (l *ledger) recordDelivery(u *userState, d Delivery) {
	if len(u.deliveries) == 0 {
		l.deliveredUsers.Add(1)
	}
	if _, dup := u.hashes[d.ContentHash]; dup {
		l.duplicates.Add(1)
	} else {
		if u.hashes == nil {
			u.hashes = make(map[string]struct{}, 1)
		}
		u.hashes[d.ContentHash] = struct{}{}
	}
	u.deliveries = append(u.deliveries, d)
	l.deliveries.Add(1)
}
