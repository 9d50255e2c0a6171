package api

import "github.com/broadcast-dev/broadcast/internal/auth"

// Audit actions: what a state-changing call did.
const (
	ActionCreate       = "broadcast.create"
	ActionCancel       = "broadcast.cancel"
	ActionReplay       = "broadcast.replay"
	ActionPreview      = "broadcast.preview"
	ActionDraftPreview = "preview.draft"
	ActionEdit         = "broadcast.edit"
	ActionRecall       = "broadcast.recall"
	ActionImport       = "conversations.import"
	ActionApprove      = "broadcast.approve"
	ActionReject       = "broadcast.reject"
	ActionRemind       = "broadcast.remind"
	// ActionRequestApproval: a create held back by the approval policy
	// told the approvers (its entry names the approval request).
	ActionRequestApproval = "broadcast.request_approval"
	// ActionReminder: a remind made a reminder (its entry names the
	// reminder; the remind's own names the original).
	ActionReminder = "broadcast.reminder"
)

// rule is who may call a route, and what the audit log calls the call.
type rule struct {
	// public routes need no key: they reveal nothing (liveness).
	public bool
	// role is the least role that may call the route.
	role auth.Role
	// own: below admin, the caller must have created the broadcast {id}.
	own bool
	// action names a state-changing call in the audit log; reads have none.
	action string
	// maxBody bounds the request body and body names it in a 413 (when 0:
	// MaxBodyBytes, a JSON body); maxUpload, when set, bounds a
	// multipart/form-data body instead.
	maxBody, maxUpload int64
	body               string
}

// policy is the one table of who may call what: every route the server
// registers must have an entry (routeMux panics otherwise), so a new route
// cannot be left open by mistake. Edit is admin-only: it changes what
// everyone already received, which the issue does not give authors.
var policy = map[string]rule{
	"GET /healthz": {public: true},

	"GET /v1/broadcasts":                   {role: auth.Viewer},
	"GET /v1/broadcasts/{id}":              {role: auth.Viewer},
	"GET /v1/broadcasts/{id}/recipients":   {role: auth.Viewer},
	"GET /v1/broadcasts/{id}/export":       {role: auth.Viewer},
	"GET /v1/broadcasts/{id}/engagement":   {role: auth.Viewer},
	"GET /v1/broadcasts/{id}/replies":      {role: auth.Viewer},
	"GET /v1/tenants/{tenant}":             {role: auth.Viewer},
	"GET /v1/tenants/{tenant}/unreachable": {role: auth.Viewer},
	"GET /v1/tenants/{tenant}/groups":      {role: auth.Viewer},

	"POST /v1/broadcasts": {role: auth.Author, action: ActionCreate, maxUpload: MaxUploadBytes},
	"POST /v1/previews":   {role: auth.Author, action: ActionDraftPreview},
	// Composing reads only: no audit entry.
	"POST /v1/tenants/{tenant}/render":        {role: auth.Author},
	"POST /v1/tenants/{tenant}/audience-size": {role: auth.Author},
	"POST /v1/broadcasts/{id}/preview":        {role: auth.Author, own: true, action: ActionPreview},
	"POST /v1/broadcasts/{id}/cancel":         {role: auth.Author, own: true, action: ActionCancel},
	"POST /v1/broadcasts/{id}/remind":         {role: auth.Author, own: true, action: ActionRemind},

	// Nobody decides on their own broadcast, admins neither (store.Decide).
	"POST /v1/broadcasts/{id}/approve": {role: auth.Approver, action: ActionApprove},
	"POST /v1/broadcasts/{id}/reject":  {role: auth.Approver, action: ActionReject},

	"POST /v1/broadcasts/{id}/replay": {role: auth.Admin, action: ActionReplay},
	"POST /v1/broadcasts/{id}/edit":   {role: auth.Admin, action: ActionEdit},
	"POST /v1/broadcasts/{id}/recall": {role: auth.Admin, action: ActionRecall},
	"GET /v1/audit":                   {role: auth.Admin},

	"POST /v1/tenants/{tenant}/conversations/import": {role: auth.Admin, action: ActionImport, maxBody: MaxImportBytes, body: "a CSV import"},
}

// Policy returns the least role each route needs (0 for a public route)
// and whether, below admin, the caller must own the broadcast.
func Policy(pattern string) (least auth.Role, own, ok bool) {
	r, ok := policy[pattern]
	return r.role, r.own, ok
}
