package api

import (
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// approve answers 200 with the broadcast once approved: expanding, or
// scheduled when its sendAt is ahead. 403 own_broadcast for its creator,
// 409 not_pending when it does not wait for approval (decided already,
// canceled, or never held back).
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	s.decide(w, r, broadcast.DecisionApproved)
}

// reject answers 200 with the broadcast, rejected; its comment is required.
func (s *Server) reject(w http.ResponseWriter, r *http.Request) {
	s.decide(w, r, broadcast.DecisionRejected)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, d broadcast.Decision) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeDecisionRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes), d)
	if !s.decoded(w, err) {
		return
	}
	req.By = actor(r)
	decide := s.creator.Approve
	if d == broadcast.DecisionRejected {
		decide = s.creator.Reject
	}
	b, err := decide(r.Context(), id, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	noteBroadcast(r, b)
	writeJSON(w, http.StatusOK, b)
}

// auditApprovalRequest writes the entry of the approval request a create
// held back for approval sent: the create's own entry names the
// broadcast, this one the request that told the approvers.
func (s *Server) auditApprovalRequest(r *http.Request, b *broadcast.Broadcast) {
	if b.Approval == nil || b.Approval.RequestID == "" {
		return
	}
	p, _ := auth.FromContext(r.Context())
	s.audit(r, p, ActionRequestApproval, &auditNote{broadcastID: b.Approval.RequestID, tenantID: b.TenantID, status: http.StatusAccepted})
}
