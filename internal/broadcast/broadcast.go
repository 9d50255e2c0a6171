package broadcast

import (
	"encoding/json"
	"time"
)

// Broadcast is one message sent to one audience in one tenant.
type Broadcast struct {
	ID       string   `json:"id"`
	TenantID string   `json:"tenantId"`
	Message  Message  `json:"message"`
	Audience Audience `json:"audience"`
	Priority Priority `json:"priority"`
	Status   Status   `json:"status"`
	// Kind is KindBroadcast, or KindPreview for a preview sent to its author.
	Kind Kind `json:"kind"`
	// PreviewOf is the broadcast a preview shows (none for a draft's
	// preview), or the one an approval request asks about.
	PreviewOf string `json:"previewOf,omitempty"`
	// ReminderOf is the broadcast a reminder follows up, and Reminder
	// whom it chose and left out (reminder.go).
	ReminderOf string    `json:"reminderOf,omitempty"`
	Reminder   *Reminder `json:"reminder,omitempty"`
	// RemindedBy lists the reminders of this broadcast sent so far, oldest
	// first; Reminders the ones its create asked for, and what became of
	// each.
	RemindedBy []string            `json:"remindedBy,omitempty"`
	Reminders  []ScheduledReminder `json:"reminders,omitempty"`
	// CreatedBy names the API key that created it (empty before keys).
	CreatedBy string `json:"createdBy,omitempty"`
	// Approval is present when the approval policy wanted an approver's
	// decision on it: the rule, and the decision once taken.
	Approval  *Approval `json:"approval,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// SendAt is when a scheduled broadcast starts; StartedAt when it did.
	// A LocalTime broadcast starts (its audience resolved and grouped by
	// zone) at SendAt, and each zone's recipients get it at LocalTime in
	// their zone: Zones.
	SendAt     *time.Time `json:"sendAt,omitempty"`
	LocalTime  *string    `json:"localTime,omitempty"`
	Zones      []Zone     `json:"zones,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	CanceledAt *time.Time `json:"canceledAt,omitempty"`
	// CompletedAt is when the broadcast ended: completed, canceled or
	// failed, with every recipient final.
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// Error is why a failed broadcast failed: what Graph answered, and
	// what the dispatcher was doing, e.g. "Graph 403
	// Authorization_RequestDenied: Insufficient privileges to complete the
	// operation. (directory sync)".
	Error  string `json:"error,omitempty"`
	Counts Counts `json:"counts"`
	// Replays is the number of replays started (the last replay's round).
	Replays int `json:"replays,omitempty"`
	// Edit and Recall are the progress of the last edit and of the recall
	// of the message sent (absent until one starts).
	Edit   *ChangeProgress `json:"edit,omitempty"`
	Recall *ChangeProgress `json:"recall,omitempty"`
	// AudienceSize is the number of distinct recipients the audience
	// resolved to, set before any of them is sent the message.
	AudienceSize *int64 `json:"audienceSize,omitempty"`
	// Unresolved reports the users and groups of the audience the
	// directory does not know (absent when there are none).
	Unresolved *Unresolved `json:"unresolved,omitempty"`
}

// Zone is the wave of a LocalTime broadcast's recipients in one time zone
// (IANA name): they get the message from StartAt, when LocalTime occurs
// there.
type Zone struct {
	Zone       string    `json:"zone"`
	StartAt    time.Time `json:"startAt"`
	Recipients int64     `json:"recipients"`
	State      ZoneState `json:"state"`
}

// ZoneState is where a zone's wave stands.
type ZoneState string

const (
	ZonePending  ZoneState = "pending"  // before its StartAt
	ZoneStarted  ZoneState = "started"  // its recipients are being queued
	ZoneDone     ZoneState = "done"     // every recipient of it is queued (see Counts for how they fare)
	ZoneCanceled ZoneState = "canceled" // the broadcast ended before it started: none of it was sent
)

// Message is what every recipient gets: markdown text, an Adaptive Card,
// both (then the card is the message and the text its notification
// summary), or a Template rendered to an Adaptive Card. Its strings may hold
// placeholders such as {{displayName}} (ProfileFields), filled per recipient.
type Message struct {
	Text     string          `json:"text,omitempty"`
	Card     json.RawMessage `json:"card,omitempty"`
	Template *Template       `json:"template,omitempty"`
	// Notify asks Teams for an activity-feed notification; on unless false.
	Notify *bool `json:"notify,omitempty"`
}

// Alert reports whether the message raises a feed notification.
func (m Message) Alert() bool { return m.Notify == nil || *m.Notify }

// Audience names the recipients: the union of every member of the tenant
// (AllUsers), the transitive user members of groups, users by Entra (AAD)
// object id and users by user principal name, minus Exclude. At least one
// source is set. Guests are left out of AllUsers and groups unless
// IncludeGuests; disabled accounts are left out of both always. Users named
// by id or UPN are recipients whatever their type.
type Audience struct {
	AllUsers      bool      `json:"allUsers,omitempty"`
	IncludeGuests bool      `json:"includeGuests,omitempty"`
	GroupIDs      []string  `json:"groupIds,omitempty"`
	UserIDs       []string  `json:"userIds,omitempty"`
	UPNs          []string  `json:"upns,omitempty"`
	Exclude       Exclusion `json:"exclude,omitzero"`
}

// Exclusion names users who do not get the broadcast even if a source of
// the audience has them.
type Exclusion struct {
	UserIDs  []string `json:"userIds,omitempty"`
	UPNs     []string `json:"upns,omitempty"`
	GroupIDs []string `json:"groupIds,omitempty"`
}

// Empty reports whether the exclusion names nobody.
func (x Exclusion) Empty() bool { return len(x.UserIDs)+len(x.UPNs)+len(x.GroupIDs) == 0 }

// Unresolved counts what an audience named that the directory does not
// know: such names get no message, and are reported here rather than
// dropped silently. The lists hold the first MaxUnresolvedListed of each
// kind, in request order.
type Unresolved struct {
	Count    int64    `json:"count"`
	UPNs     []string `json:"upns,omitempty"`
	IDs      []string `json:"ids,omitempty"`
	GroupIDs []string `json:"groupIds,omitempty"`
}

// MaxUnresolvedListed bounds each list of Unresolved.
const MaxUnresolvedListed = 100

// Counts are a broadcast's exact recipient counters: Total is the number of
// distinct recipients known so far, and each other field the number in that
// state. They always add up: Total = the sum of the states.
type Counts struct {
	Total      int64 `json:"total"`
	Pending    int64 `json:"pending"`
	Installing int64 `json:"installing"`
	Sending    int64 `json:"sending"`
	Sent       int64 `json:"sent"`
	Blocked    int64 `json:"blocked"`
	Failed     int64 `json:"failed"`
	Canceled   int64 `json:"canceled"`
	// PossibleDuplicates counts the sends that may have reached the user
	// without being recorded sent: one per send taken over from a sender
	// whose claim ran out (it died or lost Redis mid-send), and one per
	// send that got no answer (a timeout, a connection cut after the
	// request left) or a gateway's 502 or 504, whether it was then retried
	// or ended the recipient failed or canceled. The users who got the
	// message twice are at most this many. It is not a state, and not part
	// of Total.
	PossibleDuplicates int64 `json:"possibleDuplicates"`
	// Replayed counts the recipients reopened by replays (each replay of a
	// recipient once), also not part of Total.
	Replayed int64 `json:"replayed"`
}

// Of returns the counter for state s.
func (c Counts) Of(s State) int64 {
	switch s {
	case StatePending:
		return c.Pending
	case StateInstalling:
		return c.Installing
	case StateSending:
		return c.Sending
	case StateSent:
		return c.Sent
	case StateBlocked:
		return c.Blocked
	case StateFailed:
		return c.Failed
	case StateCanceled:
		return c.Canceled
	}
	return 0
}

// Set sets the counter for state s.
func (c *Counts) Set(s State, n int64) {
	switch s {
	case StatePending:
		c.Pending = n
	case StateInstalling:
		c.Installing = n
	case StateSending:
		c.Sending = n
	case StateSent:
		c.Sent = n
	case StateBlocked:
		c.Blocked = n
	case StateFailed:
		c.Failed = n
	case StateCanceled:
		c.Canceled = n
	}
}

// Done is the number of recipients in a final state.
func (c Counts) Done() int64 { return c.Sent + c.Blocked + c.Failed + c.Canceled }

// Recipient is one user's record within a broadcast.
type Recipient struct {
	UserID         string    `json:"userId"`
	State          State     `json:"state"`
	Reason         Reason    `json:"reason,omitempty"`
	LastError      string    `json:"lastError,omitempty"`
	Attempts       int       `json:"attempts"`
	Retries        int       `json:"retries,omitempty"`
	Reinstalls     int       `json:"reinstalls,omitempty"`
	Throttles      int       `json:"throttles,omitempty"`   // 429s in this round
	ReplayRound    int       `json:"replayRound,omitempty"` // the replay that last reopened it (0: none)
	ConversationID string    `json:"conversationId,omitempty"`
	ActivityID     string    `json:"activityId,omitempty"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// ConflictError is a request the broadcast's state refuses, such as the
// cancel of a completed broadcast: the API answers 409 with Code.
type ConflictError struct {
	Code    string // stable, for clients: already_completed, canceled, ...
	Message string
}

func (e *ConflictError) Error() string { return e.Message }
