package teamsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Control endpoints, JSON, for tests and demos in other processes. They
// are not counted in the ledger and have no latency.
//
//	GET  /_sim/healthz
//	GET  /_sim/ledger
//	GET  /_sim/users?tenant=                  (default: the first tenant)
//	GET  /_sim/users/{tenant}/{user}/deliveries
//	GET  /_sim/users/{tenant}/{user}/activities  (the messages as the chat holds them: content, updates, deleted)
//	POST /_sim/inject     {"tenant","user","status","code","times","retryAfterMs","delivered","onCreate"} (no user: any user of the tenant)
//	POST /_sim/uninstall  {"tenant","user"}     (posts installationUpdate remove to Config.BotEndpoint)
//	POST /_sim/faults     {"errorRate","preconditionRate","gatewayDeliveredRate","latencyMs","jitterMs","slowRate","slowMs"}
//	                      (an absent rate is 0; absent latencyMs or jitterMs leave the latency as it is)
//	POST /_sim/reset
//	POST /_sim/engage     {"tenant","user","kind","activityId","reaction","removed","verb","data","text"} (Sim.Engage: answers what was posted and the bot's answer)
//	GET  /_sim/users/{tenant}/{user}/engagement  (what the user did with the bot's messages)
func (s *Sim) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /_sim/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /_sim/ledger", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Ledger())
	})
	m.HandleFunc("GET /_sim/users", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.URL.Query().Get("tenant")
		if tenant == "" {
			tenant = s.order[0].id
		}
		users := s.Users(tenant)
		if users == nil {
			controlError(w, http.StatusNotFound, "unknown tenant "+tenant)
			return
		}
		writeJSON(w, http.StatusOK, users)
	})
	m.HandleFunc("GET /_sim/users/{tenant}/{user}/deliveries", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.user(r.PathValue("tenant"), r.PathValue("user")); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		d := s.UserDeliveries(r.PathValue("tenant"), r.PathValue("user"))
		if d == nil {
			d = []Delivery{}
		}
		writeJSON(w, http.StatusOK, d)
	})
	m.HandleFunc("GET /_sim/users/{tenant}/{user}/activities", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.user(r.PathValue("tenant"), r.PathValue("user")); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.UserActivities(r.PathValue("tenant"), r.PathValue("user")))
	})
	m.HandleFunc("POST /_sim/inject", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant       string `json:"tenant"`
			User         string `json:"user"`
			Status       int    `json:"status"`
			Code         string `json:"code"`
			Times        int    `json:"times"`
			RetryAfterMs int64  `json:"retryAfterMs"`
			Delivered    bool   `json:"delivered"`
			OnCreate     bool   `json:"onCreate"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		f := Fault{Status: in.Status, Code: in.Code, Times: in.Times, RetryAfter: time.Duration(in.RetryAfterMs) * time.Millisecond,
			Delivered: in.Delivered, OnCreate: in.OnCreate}
		inject := func() error { return s.inject(in.Tenant, in.User, f) }
		if in.User == "" {
			inject = func() error { return s.injectTenant(in.Tenant, f) }
		}
		if f.Delivered && !isGateway(f.Status) {
			controlError(w, http.StatusBadRequest, "delivered applies to status 502 and 504 only")
			return
		}
		if err := inject(); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_sim/uninstall", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant string `json:"tenant"`
			User   string `json:"user"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.noteBase(r)
		if err := s.uninstall(in.Tenant, in.User); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ErrorRate        float64 `json:"errorRate"`
			PreconditionRate float64 `json:"preconditionRate"`
			GatewayDelivered float64 `json:"gatewayDeliveredRate"`
			LatencyMs        *int64  `json:"latencyMs"`
			JitterMs         *int64  `json:"jitterMs"`
			SlowRate         float64 `json:"slowRate"`
			SlowMs           int64   `json:"slowMs"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if in.ErrorRate < 0 || in.ErrorRate > 1 || in.PreconditionRate < 0 || in.PreconditionRate > 1 ||
			in.ErrorRate+in.PreconditionRate > 1 || in.GatewayDelivered < 0 || in.GatewayDelivered > 1 || negative(in.LatencyMs) || negative(in.JitterMs) || in.SlowRate < 0 || in.SlowRate > 1 || in.SlowMs < 0 {
			controlError(w, http.StatusBadRequest, "errorRate and preconditionRate must be in [0,1] with a sum of at most 1; gatewayDeliveredRate and slowRate must be in [0,1]; latencyMs, jitterMs and slowMs must not be negative")
			return
		}
		latency, jitter := time.Duration(s.latency.Load()), time.Duration(s.jitter.Load())
		if in.LatencyMs != nil {
			latency = time.Duration(*in.LatencyMs) * time.Millisecond
		}
		if in.JitterMs != nil {
			jitter = time.Duration(*in.JitterMs) * time.Millisecond
		}
		s.SetFaults(in.ErrorRate, in.PreconditionRate, latency)
		s.SetLatency(latency, jitter)
		s.SetGatewayDelivered(in.GatewayDelivered)
		s.SetSlow(in.SlowRate, time.Duration(in.SlowMs)*time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_sim/engage", func(w http.ResponseWriter, r *http.Request) {
		var in EngageRequest
		if !readJSON(w, r, &in) {
			return
		}
		s.noteBase(r)
		out, err := s.Engage(r.Context(), in)
		switch {
		case errors.Is(err, ErrNoBotEndpoint):
			controlError(w, http.StatusConflict, err.Error())
		case err != nil:
			controlError(w, http.StatusBadRequest, err.Error())
		default:
			writeJSON(w, http.StatusOK, out)
		}
	})
	m.HandleFunc("GET /_sim/users/{tenant}/{user}/engagement", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.user(r.PathValue("tenant"), r.PathValue("user")); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		e := s.UserEngagement(r.PathValue("tenant"), r.PathValue("user"))
		if e == nil {
			e = []Engaged{}
		}
		writeJSON(w, http.StatusOK, e)
	})
	m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
}

func negative(ms *int64) bool { return ms != nil && *ms < 0 }

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
