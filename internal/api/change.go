package api

import (
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// edit answers 202 with the edit's round and the recipients it is queued
// for; 409 recalled after a recall.
func (s *Server) edit(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeEditRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	res, err := s.creator.Edit(r.Context(), id, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// recall answers 202 with the recall, or 200 when an earlier call had
// started it.
func (s *Server) recall(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	if !s.decoded(w, broadcast.DecodeRecallRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))) {
		return
	}
	res, started, err := s.creator.Recall(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	status := http.StatusOK
	if started {
		status = http.StatusAccepted
	}
	writeJSON(w, status, res)
}
