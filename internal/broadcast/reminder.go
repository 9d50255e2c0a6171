package broadcast

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RemindTo names whom a reminder goes to, among the recipients the
// original broadcast was delivered to.
type RemindTo string

const (
	// RemindUnacknowledged: those who have not pressed the acknowledge
	// button (the original must have one).
	RemindUnacknowledged RemindTo = "unacknowledged"
	// RemindUnread: those whose read receipts are known to be on and who
	// have not read it. A recipient whose receipts are off (or who never
	// read anything from the bot) cannot be told from one who did not
	// read: they are left out, and counted in ReceiptsUnknown.
	RemindUnread RemindTo = "unread"
)

// Valid reports whether t is one of the two audiences.
func (t RemindTo) Valid() bool { return t == RemindUnacknowledged || t == RemindUnread }

// Bounds of a create's reminders.
const (
	MinReminderAfter = time.Minute
	MaxReminderAfter = 30 * 24 * time.Hour
	MaxReminders     = 3
)

// ReminderSpec is one of a create's reminders: sent After the broadcast
// completed (every recipient final), to its recipients To names.
type ReminderSpec struct {
	// After is a duration: "90m", "24h", "2d" (days), at least
	// MinReminderAfter, at most MaxReminderAfter.
	After string   `json:"after"`
	To    RemindTo `json:"to"`
}

// Delay returns After as a duration (0 if it is not one).
func (r ReminderSpec) Delay() time.Duration {
	d, _ := parseAfter(r.After)
	return d
}

// parseAfter reads a Go duration, or a whole number of days ("2d").
func parseAfter(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 10_000 {
			return 0, fmt.Errorf("not a whole number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// ScheduledReminder is a create's reminder as the original broadcast
// shows it: its spec, the id its broadcast has (or will have) and what
// became of it.
type ScheduledReminder struct {
	ReminderSpec
	ID     string          `json:"id"`
	Status ReminderOutcome `json:"status"`
	// Reason says why it was skipped.
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"` // when it was sent or skipped
}

// ReminderOutcome is where a scheduled reminder stands.
type ReminderOutcome string

const (
	ReminderWaiting ReminderOutcome = "waiting" // for the original to complete, then its delay
	ReminderSent    ReminderOutcome = "sent"    // its broadcast (ID) was created
	ReminderSkipped ReminderOutcome = "skipped" // never to be sent: Reason says why
)

// Reminder is what a reminder chose: among the recipients the original
// had reached when it was made (Delivered), the Recipients it goes to,
// and those it left out, by why. Recipients never delivered the original
// (failed, blocked, canceled, still pending) are not reminded:
// NotDelivered counts them.
type Reminder struct {
	To           RemindTo `json:"to"`
	Delivered    int64    `json:"delivered"`
	Recipients   int64    `json:"recipients"`
	NotDelivered int64    `json:"notDelivered"`
	// Acknowledged and Read count the delivered recipients left out
	// because they did what the reminder asks.
	Acknowledged int64 `json:"acknowledged,omitempty"`
	Read         int64 `json:"read,omitempty"`
	// ReceiptsUnknown counts, for an unread reminder, the delivered
	// recipients who did not read it as far as we know but whose read
	// receipts were never seen on: they may have read it, and are left out.
	ReceiptsUnknown int64 `json:"receiptsUnknown,omitempty"`
	// Scheduled is the index of the original's reminder (its create's
	// reminders) this one is; absent for one asked for by remind.
	Scheduled *int `json:"scheduled,omitempty"`
}

// RemindRequest is the body of POST /v1/broadcasts/{id}/remind.
type RemindRequest struct {
	To RemindTo `json:"to"`
	// Message replaces the original's (by default the original's message,
	// its first line prefixed "Reminder: "); checked as a create's is.
	Message *Message `json:"message,omitempty"`
	// CreatedBy is the name of the API key asking (set by the API).
	CreatedBy string `json:"-"`
}

// DecodeRemindRequest reads a remind request strictly and validates it.
func DecodeRemindRequest(r io.Reader) (*RemindRequest, error) {
	var req RemindRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	req.To = checkRemindTo(v, "to", req.To)
	if req.Message != nil {
		req.Message.validate(v)
	}
	return &req, v.orNil()
}

func checkRemindTo(v *ValidationError, field string, to RemindTo) RemindTo {
	to = RemindTo(strings.TrimSpace(string(to)))
	switch {
	case to == "":
		v.add(field, "required: %q or %q", RemindUnacknowledged, RemindUnread)
	case !to.Valid():
		v.add(field, "must be %q or %q, got %q", RemindUnacknowledged, RemindUnread, clip(string(to)))
	}
	return to
}

// normalizeReminders checks a create's reminders: at most MaxReminders,
// each with a delay in bounds and a valid audience.
func (r *CreateRequest) normalizeReminders(v *ValidationError) {
	if len(r.Reminders) == 0 {
		r.Reminders = nil
		return
	}
	if len(r.Reminders) > MaxReminders {
		v.add("reminders", "%d reminders, at most %d", len(r.Reminders), MaxReminders)
		return
	}
	for i := range r.Reminders {
		rm := &r.Reminders[i]
		field := fmt.Sprintf("reminders[%d]", i)
		rm.After = strings.TrimSpace(rm.After)
		d, err := parseAfter(rm.After)
		switch {
		case rm.After == "":
			v.add(field+".after", "required: a duration such as \"24h\", \"90m\" or \"2d\"")
		case err != nil:
			v.add(field+".after", "must be a duration such as \"24h\", \"90m\" or \"2d\", got %q", clip(rm.After))
		case d < MinReminderAfter:
			v.add(field+".after", "%s is too soon: at least %s after the broadcast completed", rm.After, MinReminderAfter)
		case d > MaxReminderAfter:
			v.add(field+".after", "%s is too late: at most %d days", rm.After, int(MaxReminderAfter/(24*time.Hour)))
		}
		rm.To = checkRemindTo(v, field+".to", rm.To)
	}
}

// Remindable refuses a reminder of b before its message went anywhere,
// of one whose message was recalled, and of a preview or an approval
// request (a ConflictError: the API answers 409).
func Remindable(b *Broadcast) error {
	switch {
	case b.Kind == KindPreview || b.Kind == KindApprovalRequest:
		return &ConflictError{Code: "not_remindable", Message: fmt.Sprintf("broadcast %s is a %s: only broadcasts and reminders are reminded", b.ID, b.Kind)}
	case b.Status == StatusScheduled || b.Status == StatusPendingApproval || b.Status == StatusRejected:
		return &ConflictError{Code: "not_started", Message: fmt.Sprintf("broadcast %s is %s: nobody got it yet", b.ID, b.Status)}
	case b.Recall != nil:
		return &ConflictError{Code: "recalled", Message: fmt.Sprintf("broadcast %s was recalled: its message is deleted, there is nothing to remind of", b.ID)}
	}
	return nil
}
