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
	BotActivities       int64         `json:"botActivities"`
	BotActivitiesFailed int64         `json:"botActivitiesFailed"`
	BotAnswers          map[int]int64 `json:"botAnswers"`
	// Engagement counts what the simulated users did (Config.Engagement,
	// Sim.Engage).
	Engagement EngagementLedger `json:"engagement"`
	Requests   map[string]int64 `json:"requests"` // requests by endpoint kind (see the Kind constants)
	Status     map[int]int64    `json:"status"`   // simulated-service answers by status code
}

// EngagementLedger counts the users' engagement posted to the bot.
type EngagementLedger struct {
	Reads     int64 `json:"reads"`     // messages read, with receipts on or off
	Receipts  int64 `json:"receipts"`  // read receipts the bot took (2xx)
	Reactions int64 `json:"reactions"` // messageReactions the bot took
	Replies   int64 `json:"replies"`   // users' messages the bot took
	// Invokes are the acknowledges posted (adaptiveCard/action), each
	// valid, invalid or late (see InvokeValid).
	Invokes        int64 `json:"invokes"`
	InvokesValid   int64 `json:"invokesValid"`
	InvokesInvalid int64 `json:"invokesInvalid"`
	InvokesLate    int64 `json:"invokesLate"`
	// Failed counts receipts, reactions and replies the bot did not take
	// (after the tries); Dropped those planned but never posted (the
	// simulator closed, or MaxPending were waiting); Pending those waiting
	// for their time or a poster now (not cleared by Reset).
	// Duplicates are second posts of an activity (Engagement.Duplicate),
	// DuplicatesTaken those the bot took; neither is in the counts above.
	Duplicates      int64 `json:"duplicates"`
	DuplicatesTaken int64 `json:"duplicatesTaken"`
	Failed          int64 `json:"failed"`
	Dropped         int64 `json:"dropped"`
	Pending         int64 `json:"pending"`
	// Answers are the bot's answers to them by status (0: none).
	Answers map[int]int64 `json:"answers"`
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
	KindGraphMailbox      = "graph_mailbox_settings"
	KindGraphGroups       = "graph_groups"
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
	kindGraphMailbox
	kindGraphGroups
	kindCount
	kindNone kind = -1 // not one of the counted endpoints
)

var kindNames = [kindCount]string{KindToken, KindGraphUsers, KindGraphCatalog, KindGraphInstall, KindGraphInstalledGet,
	KindGraphChat, KindConnectorCreate, KindConnectorSend, KindConnectorUpdate, KindConnectorDelete,
	KindGraphUsersDelta, KindGraphUser, KindGraphBatch, KindGraphGroupMembers, KindBotMetadata, KindBotKeys, KindGraphMailbox, KindGraphGroups}

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
	engage                                 engageLedger
}

type engageLedger struct {
	reads, receipts, reactions, replies                atomic.Int64
	invokes, invokesValid, invokesInvalid, invokesLate atomic.Int64
	failed, dropped, duplicates, duplicatesTaken       atomic.Int64
	pending                                            atomic.Int64 // a gauge: not reset
	answers                                            [maxStatus]atomic.Int64
}

func (l *engageLedger) answer(status int) {
	if status >= 0 && status < maxStatus {
		l.answers[status].Add(1)
	}
}

func (l *engageLedger) counters() []*atomic.Int64 {
	return []*atomic.Int64{&l.reads, &l.receipts, &l.reactions, &l.replies, &l.invokes, &l.invokesValid,
		&l.invokesInvalid, &l.invokesLate, &l.failed, &l.dropped, &l.duplicates, &l.duplicatesTaken}
}

func (l *engageLedger) snapshot() EngagementLedger {
	out := EngagementLedger{Reads: l.reads.Load(), Receipts: l.receipts.Load(), Reactions: l.reactions.Load(),
		Replies: l.replies.Load(), Invokes: l.invokes.Load(), InvokesValid: l.invokesValid.Load(),
		InvokesInvalid: l.invokesInvalid.Load(), InvokesLate: l.invokesLate.Load(), Failed: l.failed.Load(),
		Dropped: l.dropped.Load(), Pending: l.pending.Load(), Duplicates: l.duplicates.Load(),
		DuplicatesTaken: l.duplicatesTaken.Load(), Answers: make(map[int]int64)}
	for code := range l.answers {
		if n := l.answers[code].Load(); n != 0 {
			out.Answers[code] = n
		}
	}
	return out
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
		Engagement:           l.engage.snapshot(),
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
	for _, c := range l.engage.counters() {
		c.Store(0)
	}
	for k := range l.requests {
		l.requests[k].Store(0)
	}
	for code := range l.status {
		l.status[code].Store(0)
		l.botAnswers[code].Store(0)
		l.engage.answers[code].Store(0)
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
