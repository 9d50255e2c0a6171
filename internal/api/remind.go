package api

import (
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// remind answers 202 with the reminder, a broadcast of kind reminder
// whose reminder field says whom it chose and left out (the recipients
// whose read receipts are unknown among them); 200 with it for an
// Idempotency-Key replay; 409 when there is nobody to remind or the
// broadcast cannot be (no_acknowledge, not_started, recalled,
// not_remindable, nobody_to_remind).
func (s *Server) remind(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	key, keyed, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	req, err := broadcast.DecodeRemindRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	req.CreatedBy = actor(r)
	var b *broadcast.Broadcast
	replayed := false
	if keyed {
		b, replayed, err = s.creator.RemindOnce(r.Context(), id, req, key)
	} else {
		b, err = s.creator.Remind(r.Context(), id, req)
	}
	if err != nil {
		s.createFailed(w, err)
		return
	}
	if !replayed {
		// The call's entry names the original; this one the reminder.
		p, _ := auth.FromContext(r.Context())
		s.audit(r, p, ActionReminder, &auditNote{broadcastID: b.ID, tenantID: b.TenantID, status: http.StatusAccepted})
	}
	writeMade(w, b, replayed)
}
