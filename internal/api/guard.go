package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/metrics"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// guard serves h to the callers rule allows: 401 without a valid key, 403
// for a role too low (or, below admin, a broadcast another key created),
// 413 for a body over the route's bound; then h. A state-changing call
// that got past the key check is written to the audit log with its
// outcome, refusals (403) included.
func (s *Server) guard(pattern string, ru rule, h http.Handler) http.Handler {
	if ru.public {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r, pattern)
		if !ok {
			return
		}
		ctx := auth.WithPrincipal(r.Context(), p)
		var note *auditNote
		if ru.action != "" {
			note = &auditNote{}
			if _, err := uuid.Parse(r.PathValue("id")); err == nil {
				note.broadcastID = r.PathValue("id") // not a client's arbitrary string
			}
			ctx = context.WithValue(ctx, auditNoteKey{}, note)
			defer func() { s.audit(r, p, ru.action, note) }()
		}
		if !p.Role.Allows(ru.role) {
			s.forbid(w, note, "this call needs the role "+ru.role.String()+" or higher; the key "+strconv.Quote(p.Name)+" is "+p.Role.String())
			return
		}
		if ru.action != "" && r.PathValue("id") != "" {
			if !s.owns(w, r, p, ru, note) {
				return
			}
		}
		maxBody, body := ru.bodyLimit(r)
		if r.ContentLength > maxBody {
			note.setStatus(http.StatusRequestEntityTooLarge)
			tooLarge(w, maxBody, body)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if note != nil {
			rec := metrics.NewStatusWriter(w)
			w = auditWriter{rec, note}
			defer func() { note.setStatus(rec.Status()) }()
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate returns the user ServeAs signed in, else the key the
// request carries, or answers 401. route names the request's route in the log.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, route string) (auth.Principal, bool) {
	if p, ok := signedIn(r); ok {
		return p, true
	}
	token, err := auth.BearerToken(r.Header.Values("Authorization"))
	var p auth.Principal
	if err == nil {
		var ok bool
		if p, ok = s.keys.Authenticate(token); !ok {
			err = auth.ErrKeyNotValid
		}
	}
	if err != nil {
		s.log.Info("request refused: no valid API key", zap.String("route", route),
			zap.String("remote_addr", r.RemoteAddr), zap.String("reason", refusal(err)))
		w.Header().Set("WWW-Authenticate", `Bearer realm="broadcast"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", err.Error(), nil)
		return p, false
	}
	return p, true
}

// bodyLimit is the bound of r's body under ru, and what the bound is of,
// for a 413.
func (ru rule) bodyLimit(r *http.Request) (int64, string) {
	switch {
	case ru.maxUpload > 0 && isMultipart(r):
		return ru.maxUpload, "a multipart/form-data body"
	case ru.maxBody > 0:
		return ru.maxBody, ru.body
	}
	return MaxBodyBytes, "a JSON body"
}

// tooLarge answers 413 for a body over limit; body names what the limit
// is of ("" when unknown).
func tooLarge(w http.ResponseWriter, limit int64, body string) {
	size := strconv.FormatInt(limit, 10) + " bytes"
	if limit%(1<<20) == 0 {
		size = strconv.FormatInt(limit>>20, 10) + " MiB (" + size + ")"
	}
	msg := "the request body is over " + size
	if body != "" {
		msg += ", the bound of " + body
	}
	writeError(w, http.StatusRequestEntityTooLarge, "too_large", msg, nil)
}

// owns notes the tenant of the broadcast {id} for the audit log and, when
// the rule asks it, checks that a caller below admin created it. A
// broadcast that does not exist is left to the handler (404).
func (s *Server) owns(w http.ResponseWriter, r *http.Request, p auth.Principal, ru rule, note *auditNote) bool {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return true
	}
	tenant, createdBy, err := s.store.Owner(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true
	case err != nil:
		note.setStatus(http.StatusServiceUnavailable)
		s.fail(w, err)
		return false
	}
	note.tenantID = tenant
	if ru.own && !p.Role.Allows(auth.Admin) && createdBy != p.Name {
		s.forbid(w, note, "an "+p.Role.String()+" may act only on the broadcasts its key created; this one needs an admin")
		return false
	}
	return true
}

func (s *Server) forbid(w http.ResponseWriter, note *auditNote, msg string) {
	note.setStatus(http.StatusForbidden)
	writeError(w, http.StatusForbidden, "forbidden", msg, nil)
}

// refusal names why a request had no valid key, for the log: never the
// header or the key.
func refusal(err error) string {
	switch {
	case errors.Is(err, auth.ErrNoKey):
		return "missing"
	case errors.Is(err, auth.ErrMalformed):
		return "malformed"
	}
	return "invalid"
}
