package broadcast

import (
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Kind tells a broadcast from a preview or an approval request.
type Kind string

const (
	// KindBroadcast is a broadcast to its audience (the default).
	KindBroadcast Kind = "broadcast"
	// KindPreview is a broadcast to one user, the author, who sees the
	// message as its recipients will: it does not count as the previewed
	// broadcast's sends and does not change it.
	KindPreview Kind = "preview"
	// KindApprovalRequest is the card that tells the approvers a broadcast
	// waits for them (PreviewOf names it). It is sent as any broadcast is,
	// and never needs approval itself.
	KindApprovalRequest Kind = "approval_request"
	// KindReminder is a follow-up to the recipients of another broadcast
	// (ReminderOf) who have not acknowledged or read it (reminder.go). It is
	// sent, reported, canceled and replayed as any broadcast is.
	KindReminder Kind = "reminder"
)

// OrBroadcast returns k, or KindBroadcast when k is empty (a record
// written before kinds existed).
func (k Kind) OrBroadcast() Kind {
	if k == "" {
		return KindBroadcast
	}
	return k
}

// MaxUPNBytes bounds a user principal name (a guest's #EXT# name included).
const MaxUPNBytes = 320

// PreviewRequest is the body of POST /v1/broadcasts/{id}/preview: who gets
// the broadcast's message.
type PreviewRequest struct {
	// To is a user id (an Entra object id) or a user principal name.
	To string `json:"to"`
	// CreatedBy is the name of the API key asking (set by the API).
	CreatedBy string `json:"-"`
}

// DraftPreviewRequest is the body of POST /v1/previews: a message not
// sent yet, previewed by one user.
type DraftPreviewRequest struct {
	TenantID string  `json:"tenantId,omitempty"`
	Message  Message `json:"message"`
	To       string  `json:"to"`
	// CreatedBy is the name of the API key asking (set by the API).
	CreatedBy string `json:"-"`
}

// DecodePreviewRequest reads a preview request strictly and validates it.
func DecodePreviewRequest(r io.Reader) (*PreviewRequest, error) {
	var req PreviewRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	req.To = checkUser(v, "to", req.To)
	return &req, v.orNil()
}

// DecodeDraftPreviewRequest reads a draft's preview request strictly and
// validates it as a create request with the same tenant and message is.
func DecodeDraftPreviewRequest(r io.Reader) (*DraftPreviewRequest, error) {
	var req DraftPreviewRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	v := &ValidationError{}
	req.To = checkUser(v, "to", req.To)
	create := CreateRequest{TenantID: req.TenantID, Message: req.Message, Audience: Audience{AllUsers: true}}
	if err := create.Normalize(); err != nil {
		if verr, ok := err.(*ValidationError); ok {
			v.Problems = append(v.Problems, verr.Problems...)
		} else {
			return nil, err
		}
	}
	req.TenantID, req.Message = create.TenantID, create.Message
	return &req, v.orNil()
}

// checkUser validates a user named by a field such as a preview's
// recipient: a GUID (returned lowercased) or something shaped like a user
// principal name (name@domain).
func checkUser(v *ValidationError, field, to string) string {
	to = strings.TrimSpace(to)
	switch {
	case to == "":
		v.add(field, "required: the user id (GUID) or user principal name (name@domain) of the user who gets the preview")
	case IsGUID(to):
		return strings.ToLower(to)
	case len(to) > MaxUPNBytes:
		v.add(field, "too long for a user principal name: %d bytes, at most %d", len(to), MaxUPNBytes)
	case !upnShaped(to):
		v.add(field, "must be a user id (GUID) or a user principal name (name@domain), got %q", clip(to))
	}
	return to
}

func upnShaped(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}

// UnknownUserError refuses a preview to a user the tenant's directory
// does not have: the API answers 422.
type UnknownUserError struct {
	To     string // as given
	Tenant string
}

func (e *UnknownUserError) Error() string {
	return fmt.Sprintf("to: no user %q in tenant %s (neither in the directory cache nor in Microsoft Graph)", e.To, e.Tenant)
}
