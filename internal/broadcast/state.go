package broadcast

// State is where one recipient of a broadcast stands.
//
// A recipient starts as StateInstalling (no known conversation: the installer
// must install the app first) or StatePending (a conversation is known and a
// send job is queued). A sender claims it (StateSending) before calling Teams,
// and records one of the final states. A final state is never left again:
// a late failure can never overwrite sent.
type State string

const (
	StatePending    State = "pending"
	StateInstalling State = "installing"
	StateSending    State = "sending"
	StateSent       State = "sent"
	StateBlocked    State = "blocked"
	StateFailed     State = "failed"
	// StateCanceled: the broadcast was canceled before the recipient was sent.
	StateCanceled State = "canceled"
)

// States lists every recipient state in pipeline order.
var States = []State{StatePending, StateInstalling, StateSending, StateSent, StateBlocked, StateFailed, StateCanceled}

// Final reports whether no more work will be done for a recipient in s
// (a replay may still move a failed or blocked one back to pending).
func (s State) Final() bool {
	return s == StateSent || s == StateBlocked || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// Reason says why a recipient ended blocked or failed. Reasons are stable
// strings: reports and replay filters use them.
type Reason string

const (
	ReasonBlockedByUser    Reason = "blocked_by_user"   // 403 ConversationBlockedByUser or subCode MessageWritesBlocked
	ReasonBotDisabled      Reason = "bot_disabled"      // 403 BotDisabledByAdmin
	ReasonUserNotFound     Reason = "user_not_found"    // Graph 404 on install
	ReasonInstallFailed    Reason = "install_failed"    // Graph kept failing
	ReasonNotInstalled     Reason = "not_installed"     // conversation gone again after a reinstall
	ReasonBadMessage       Reason = "bad_message"       // 400 BadArgument
	ReasonMessageTooBig    Reason = "message_too_big"   // 413 MessageSizeTooBig
	ReasonUnauthorized     Reason = "unauthorized"      // 401 after a token refresh
	ReasonServiceError     Reason = "service_error"     // 500 or an unknown answer
	ReasonRetriesExhausted Reason = "retries_exhausted" // 412/5xx/timeouts beyond the retry budget
	ReasonThrottled        Reason = "throttled"         // 429s beyond the throttle budget
	ReasonBroadcastMissing Reason = "broadcast_missing" // the broadcast's record is gone
	// ReasonInternalError: a fault of ours, not Teams' nor the user's: the
	// job panicked, or kept failing (queue.DefaultMaxFailures). The error
	// says which; the stack is in the worker's log.
	ReasonInternalError Reason = "internal_error"
)

// Status is the lifecycle of a whole broadcast.
type Status string

const (
	// StatusScheduled: the broadcast waits for its sendAt; nothing of it is
	// expanded or queued before then, and a cancel ends it at once.
	StatusScheduled Status = "scheduled"
	StatusExpanding Status = "expanding" // the audience is being turned into jobs
	StatusSending   Status = "sending"   // every recipient is known; some are not final yet
	StatusCompleted Status = "completed" // every recipient is in a final state
	// StatusCanceling: a cancel stopped the expansion and the sending; the
	// recipients not yet sent are being moved to canceled.
	StatusCanceling Status = "canceling"
	StatusCanceled  Status = "canceled" // canceled, and every recipient is in a final state
	// StatusFailed: its audience could not be expanded (Graph refused, or
	// kept failing): Broadcast.Error says why. Recipients recorded before
	// were stopped as a cancel stops them (the broadcast is canceling, with
	// its error, until they are final).
	StatusFailed Status = "failed"
	// StatusPendingApproval: the approval policy (ApprovalPolicy) wants an
	// approver's decision first; nothing of it is expanded, queued or sent
	// before an approver approves it, and a cancel ends it at once.
	StatusPendingApproval Status = "pending_approval"
	// StatusRejected: an approver rejected it; nothing was sent, and it is
	// final.
	StatusRejected Status = "rejected"
)

// Ended reports whether nothing more will be done for the broadcast (until a
// replay of a completed one).
func (s Status) Ended() bool {
	return s == StatusCompleted || s == StatusCanceled || s == StatusFailed || s == StatusRejected
}

// Replayable reports whether a recipient that ended with reason may get
// the message on a replay: the cause may pass (Teams' errors, throttling,
// an install that failed, a user who may unblock the bot). A message Teams
// refused as bad or too big is refused again; a broadcast whose record is
// gone cannot be replayed.
func (r Reason) Replayable() bool {
	switch r {
	case ReasonBadMessage, ReasonMessageTooBig, ReasonBroadcastMissing, "":
		return false
	}
	return true
}

// ReplayedByDefault reports whether a replay that names no reasons replays
// reason: every replayable one but the users' and admins' choices (blocked,
// disabled), which are replayed only when asked for.
func (r Reason) ReplayedByDefault() bool {
	return r.Replayable() && r != ReasonBlockedByUser && r != ReasonBotDisabled
}

// Reasons lists every reason.
var Reasons = []Reason{ReasonBlockedByUser, ReasonBotDisabled, ReasonUserNotFound, ReasonInstallFailed,
	ReasonNotInstalled, ReasonBadMessage, ReasonMessageTooBig, ReasonUnauthorized, ReasonServiceError,
	ReasonRetriesExhausted, ReasonThrottled, ReasonBroadcastMissing, ReasonInternalError}
