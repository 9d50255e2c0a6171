package teamsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Graph: what its endpoints share, and the app catalog. The Graph token's
// tenant decides which tenant a call sees.

const appDisplayName = "Broadcast"

// graphBase is the Graph root as the client reached it, for absolute links.
func graphBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/graph/v1.0"
}

// odata reads a system query option, which Graph v1.0 accepts with or
// without its "$".
func odata(q url.Values, name string) string {
	if v, ok := q["$"+name]; ok && len(v) > 0 {
		return v[0]
	}
	return q.Get(name)
}

// graphAuth checks the token and returns the tenant it was issued for.
func (s *Sim) graphAuth(w http.ResponseWriter, r *http.Request) (*tenantState, bool) {
	g, p := s.authorize(r, audGraph)
	if p != authOK {
		s.graphUnauthorized(w, r, p)
		return nil, false
	}
	if s.graphFault(w, r, g.tenant) {
		return nil, false
	}
	return g.tenant, true
}

// graphAdmit applies a Graph bucket's limit.
func (s *Sim) graphAdmit(w http.ResponseWriter, r *http.Request, t *tenantState, l *limiter) bool {
	if v := admit(s.clock, exchangeOf(r), s.cfg.RetryAfterTolerance, s.cfg.GraphFractionalRetryAfter, l, nil); !v.ok {
		s.graphThrottle(w, r, t, v)
		return false
	}
	return true
}

var (
	filterAnd  = regexp.MustCompile(`(?i)\s+and\s+`)
	filterTerm = regexp.MustCompile(`(?i)^\s*([a-z][a-z/]*)\s+eq\s+'((?:[^']|'')*)'\s*$`)
)

// parseFilter reads "a eq 'x' and b eq 'y'" into (lower-case name, value)
// pairs; the simulator supports nothing else.
func parseFilter(f string) ([][2]string, bool) {
	if strings.TrimSpace(f) == "" {
		return nil, true
	}
	var terms [][2]string
	for _, part := range filterAnd.Split(strings.TrimSpace(f), -1) {
		m := filterTerm.FindStringSubmatch(part)
		if m == nil {
			return nil, false
		}
		terms = append(terms, [2]string{strings.ToLower(m[1]), strings.ReplaceAll(m[2], "''", "'")})
	}
	return terms, true
}

// teamsApp is an app of the catalog.
type teamsApp struct {
	ID                 string `json:"id"`
	ExternalID         string `json:"externalId"`
	DisplayName        string `json:"displayName"`
	DistributionMethod string `json:"distributionMethod"`
}

func (s *Sim) app(t *tenantState) teamsApp {
	return teamsApp{ID: t.catalogID, ExternalID: s.cfg.TeamsAppID, DisplayName: appDisplayName, DistributionMethod: "organization"}
}

// handleCatalog looks the app up in the tenant's catalog:
// GET /graph/v1.0/appCatalogs/teamsApps?$filter=externalId eq '{manifestId}'.
func (s *Sim) handleCatalog(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphCatalog)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	filter := odata(r.URL.Query(), "filter")
	terms, ok := parseFilter(filter)
	if !ok {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: the simulator supports 'externalId eq', 'id', 'displayName' and 'distributionMethod eq' joined by 'and'.")
		return
	}
	app := s.app(t)
	match := true
	for _, term := range terms {
		var have string
		switch term[0] {
		case "externalid":
			have = app.ExternalID
		case "id":
			have = app.ID
		case "displayname":
			have = app.DisplayName
		case "distributionmethod":
			have = app.DistributionMethod
		default:
			s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Invalid filter clause: Could not find a property named '%s' on type 'microsoft.graph.teamsApp'.", term[0]))
			return
		}
		match = match && strings.EqualFold(have, term[1])
	}
	value := []teamsApp{}
	if match {
		value = append(value, app)
	}
	s.graphJSON(w, r, http.StatusOK, map[string]any{
		"@odata.context": graphBase(r) + "/$metadata#appCatalogs/teamsApps",
		"value":          value,
	})
}

func (s *Sim) graphJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	s.reply(w, r, status, contentTypeGraph, bytes.TrimRight(b.Bytes(), "\n"), true)
}

// graphUser finds the path's user (by id or UPN) in t.
func (s *Sim) graphUser(w http.ResponseWriter, r *http.Request, t *tenantState) (*userState, bool) {
	key := r.PathValue("user")
	t.dir.RLock()
	u, ok := t.byKey[strings.ToLower(key)]
	t.dir.RUnlock()
	if !ok {
		s.graphFail(w, r, http.StatusNotFound, "NotFound", fmt.Sprintf("User '%s' was not found in the tenant.", key))
	}
	return u, ok
}

func (s *Sim) handleGraphUnknown(w http.ResponseWriter, r *http.Request) {
	seg := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
		fmt.Sprintf("Resource not found for the segment '%s' (the simulator has no Graph operation %s %s).", seg, r.Method, r.URL.Path))
}
