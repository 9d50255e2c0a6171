package teamsim

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// GraphFault is an answer to force on a tenant's Graph requests whose path
// starts with PathPrefix, such as a 403 for /users/delta when the app
// lacks User.Read.All. It is checked after the token, before the
// endpoint's limits and work; a request of a $batch is matched on its
// own path.
type GraphFault struct {
	// PathPrefix is matched against the path under /graph/v1.0, e.g.
	// "/users/delta" or "/groups/". Empty matches every Graph request.
	PathPrefix string
	Status     int    // default 500
	Code       string // default by status, e.g. Authorization_RequestDenied for 403
	Message    string // default by status
	// Times is how many requests it answers; 0 means every one until
	// ClearGraphFaults.
	Times int
}

// graphFaults are the Graph faults injected per tenant.
type graphFaults struct {
	mu sync.Mutex
	by map[*tenantState][]GraphFault
}

// InjectGraph makes the tenant's Graph requests under f.PathPrefix answer
// f, before any fault injected earlier for the same requests is used up.
// An unknown tenant or a status that is not an error is logged and ignored.
func (s *Sim) InjectGraph(tenant string, f GraphFault) {
	t, ok := s.tenant(tenant)
	if !ok || f.Status != 0 && (f.Status < 400 || f.Status >= maxStatus) {
		s.log.Warn("graph fault not injected", zap.String("tenant_id", tenant), zap.Int("status", f.Status))
		return
	}
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	if f.Code == "" || f.Message == "" {
		code, msg := defaultGraphError(f.Status)
		f.Code, f.Message = cmp.Or(f.Code, code), cmp.Or(f.Message, msg)
	}
	s.graphFaults.mu.Lock()
	if s.graphFaults.by == nil {
		s.graphFaults.by = make(map[*tenantState][]GraphFault)
	}
	s.graphFaults.by[t] = append([]GraphFault{f}, s.graphFaults.by[t]...)
	s.graphFaults.mu.Unlock()
	s.log.Info("graph fault injected", zap.String("tenant_id", t.id), zap.String("path_prefix", f.PathPrefix),
		zap.Int("status", f.Status), zap.String("code", f.Code), zap.Int("times", f.Times))
}

// ClearGraphFaults removes the tenant's Graph faults.
func (s *Sim) ClearGraphFaults(tenant string) {
	t, ok := s.tenant(tenant)
	if !ok {
		return
	}
	s.graphFaults.mu.Lock()
	delete(s.graphFaults.by, t)
	s.graphFaults.mu.Unlock()
}

// graphFault answers r with an injected fault of t, if one matches, and
// reports whether it did.
func (s *Sim) graphFault(w http.ResponseWriter, r *http.Request, t *tenantState) bool {
	path := strings.TrimPrefix(r.URL.Path, "/graph/v1.0")
	s.graphFaults.mu.Lock()
	var f GraphFault
	found := false
	q := s.graphFaults.by[t]
	for i := range q {
		if strings.HasPrefix(path, q[i].PathPrefix) {
			f, found = q[i], true
			if q[i].Times > 0 {
				if q[i].Times--; q[i].Times == 0 {
					s.graphFaults.by[t] = append(q[:i:i], q[i+1:]...)
				}
			}
			break
		}
	}
	s.graphFaults.mu.Unlock()
	if !found {
		return false
	}
	s.graphFail(w, r, f.Status, f.Code, f.Message)
	return true
}

// defaultGraphError is Graph's usual error code and message for a status.
func defaultGraphError(status int) (code, message string) {
	switch status {
	case http.StatusBadRequest:
		return "BadRequest", "Invalid request."
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", "Access token validation failure."
	case http.StatusForbidden:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case http.StatusNotFound:
		return "Request_ResourceNotFound", "Resource not found."
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Too many requests."
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable."
	case http.StatusGatewayTimeout:
		return "gatewayTimeout", "The gateway timed out."
	}
	return "generalException", fmt.Sprintf("The simulator answers %d.", status)
}
