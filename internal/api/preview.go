package api

import (
	"net/http"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// preview answers 202 with the preview: a broadcast of kind preview whose
// audience is the one user named, sent at once through the pipeline.
func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	id, ok := broadcastID(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodePreviewRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	req.CreatedBy = actor(r)
	p, err := s.creator.Preview(r.Context(), id, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.previewCreated(w, r, p)
}

// previewDraft answers as preview does, for a message not sent yet.
func (s *Server) previewDraft(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeDraftPreviewRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	req.CreatedBy = actor(r)
	p, err := s.creator.PreviewDraft(r.Context(), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.previewCreated(w, r, p)
}

func (s *Server) previewCreated(w http.ResponseWriter, r *http.Request, p *broadcast.Broadcast) {
	noteBroadcast(r, p)
	w.Header().Set("Location", "/v1/broadcasts/"+p.ID)
	writeJSON(w, http.StatusAccepted, p)
}
