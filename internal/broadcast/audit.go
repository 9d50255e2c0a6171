package broadcast

import "time"

// AuditEntry is one entry of the API's audit log (GET /v1/audit): a
// state-changing call, who made it (the key's name and role), what, on
// which broadcast, when, and how it ended. It never holds a message or a
// key.
type AuditEntry struct {
	// ID is the entry's stream id: unique, ordered by time.
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`
	Role        string    `json:"role"`
	Action      string    `json:"action"`
	BroadcastID string    `json:"broadcastId,omitempty"`
	TenantID    string    `json:"tenantId,omitempty"`
	// Status is the HTTP status the call was answered (403: refused).
	Status int `json:"status"`
	// Code is the error code answered, if an error: outcome_unknown says
	// the call may or may not have taken effect (BroadcastID names the
	// broadcast); every other error, that it did not.
	Code      string `json:"code,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}
