package broadcast

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Limits on a create request. The payload budget of the whole activity
// (80 KB counted in UTF-16 units, as Teams counts it) is checked where the
// activity is built; these bound the parts before it is. A UTF-8 string
// takes at most 3 bytes per UTF-16 unit, so they never refuse a text or a
// card within the budget (CJK text is 3 bytes a unit, an emoji 4 bytes for
// 2 units).
const (
	MaxTextBytes     = 3 * 80 * 1024
	MaxCardBytes     = 3 * 80 * 1024
	MaxExplicitUsers = 50_000
)

// CreateRequest is the body of POST /v1/broadcasts.
type CreateRequest struct {
	// TenantID is optional when the deployment serves a single tenant.
	TenantID string   `json:"tenantId,omitempty"`
	Message  Message  `json:"message"`
	Audience Audience `json:"audience"`
	// Priority is normal unless set: urgent broadcasts take most of their
	// tenant's send budget while they last.
	Priority Priority `json:"priority,omitempty"`
	// SendAt schedules the broadcast (RFC 3339); absent (or null) sends
	// it now, empty is refused. Normalize leaves it in UTC, to the
	// millisecond (see SendTime).
	SendAt *string `json:"sendAt,omitempty"`
	// LocalTime schedules the broadcast at a wall-clock time
	// ("2026-12-08T09:00") in each recipient's own time zone, instead of
	// SendAt (giving both is refused).
	LocalTime *string `json:"localTime,omitempty"`
	// Reminders are follow-ups sent after the broadcast completed
	// (reminder.go): [{"after": "24h", "to": "unacknowledged"}].
	Reminders []ReminderSpec `json:"reminders,omitempty"`
	// CreatedBy is the name of the API key creating it: set by the API,
	// never read from the body.
	CreatedBy string `json:"-"`
}

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem found in a request.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Invalid returns a ValidationError for one field.
func Invalid(field, format string, args ...any) error {
	v := &ValidationError{}
	v.add(field, format, args...)
	return v
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// IsGUID reports whether s is an Entra object id (a GUID).
func IsGUID(s string) bool { return guidRE.MatchString(s) }

// DecodeCreateRequest reads a create request strictly (decodeStrict):
// every problem of the JSON is an error naming the field.
// The request is validated and normalised (user ids deduplicated, lowercased).
func DecodeCreateRequest(r io.Reader) (*CreateRequest, error) {
	var req CreateRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	return &req, nil
}

// ReadCreateRequest decodes a create request as DecodeCreateRequest does,
// without validating it: for a request completed from other parts (a CSV
// upload) before Normalize.
func ReadCreateRequest(r io.Reader) (*CreateRequest, error) {
	var req CreateRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// Normalize validates the request and puts it in canonical form: user ids
// lowercased and deduplicated in their first order, the tenant id lowercased.
func (r *CreateRequest) Normalize() error {
	v := &ValidationError{}
	if r.TenantID != "" {
		if !IsGUID(r.TenantID) {
			v.add("tenantId", "must be a GUID (the Entra tenant id), got %q", clip(r.TenantID))
		}
		r.TenantID = strings.ToLower(r.TenantID)
	}
	switch {
	case r.Priority == "":
		r.Priority = PriorityNormal
	case !r.Priority.Valid():
		v.add("priority", "must be %q or %q, got %q", PriorityUrgent, PriorityNormal, clip(string(r.Priority)))
	}
	r.Message.validate(v)
	r.Audience.normalize(v)
	r.normalizeSendAt(v)
	r.normalizeLocalTime(v)
	r.normalizeReminders(v)
	return v.orNil()
}

// userIDs checks, lowercases and deduplicates user ids in their first
// order, in place; at most the first five bad ones are named.
func userIDs(v *ValidationError, field string, ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0]
	bad := 0
	for i, id := range ids {
		if !IsGUID(id) {
			if bad < 5 {
				v.add(fmt.Sprintf("%s[%d]", field, i), "must be an Entra user object id (a GUID), got %q", clip(id))
			}
			bad++
			continue
		}
		id = strings.ToLower(id)
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	if bad > 5 {
		v.add(field, "%d more ids are not GUIDs", bad-5)
	}
	return out
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
