package teamsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Entra groups: seeded per tenant from Config.Groups, with direct user
// members and nested groups, served as Graph's
// GET /groups/{id}/transitiveMembers/microsoft.graph.user.

// GroupSpec describes one group of every tenant.
type GroupSpec struct {
	// Name is the group's displayName, unique among the groups; its id is
	// derived from the seed, the tenant and the name.
	Name string
	// Members is the fraction of the tenant's users (guests among them)
	// drawn as direct members.
	Members float64
	// Guests is how many guests are direct members at least (if the
	// tenant has that many).
	Guests int
	// Nested names the groups that are members of this one: their users
	// are this group's transitive members. Cycles are refused.
	Nested []string
}

// DefaultGroups are overlapping groups, two of them with nested groups and
// guests, for the tenants of a Config without Groups.
func DefaultGroups() []GroupSpec {
	return []GroupSpec{
		{Name: "Engineering", Members: 0.30},
		{Name: "Sales", Members: 0.20, Guests: 1},
		{Name: "Marketing", Members: 0.10},
		{Name: "Europe", Members: 0.25, Guests: 1, Nested: []string{"Marketing"}},
		{Name: "Leadership", Members: 0.02},
		{Name: "People Managers", Members: 0.05, Nested: []string{"Leadership"}},
	}
}

func validateGroups(specs []GroupSpec) error {
	var errs []error
	byName := make(map[string]GroupSpec, len(specs))
	for i, g := range specs {
		field := fmt.Sprintf("Groups[%d]", i)
		switch {
		case strings.TrimSpace(g.Name) == "":
			errs = append(errs, fmt.Errorf("%s.Name: is empty", field))
		case byName[g.Name].Name != "":
			errs = append(errs, fmt.Errorf("%s.Name: %q is used twice", field, g.Name))
		}
		if !(g.Members >= 0 && g.Members <= 1) {
			errs = append(errs, fmt.Errorf("%s.Members: must be between 0 and 1, got %v", field, g.Members))
		}
		if g.Guests < 0 {
			errs = append(errs, fmt.Errorf("%s.Guests: must not be negative, got %d", field, g.Guests))
		}
		byName[g.Name] = g
	}
	for i, g := range specs {
		for _, n := range g.Nested {
			if _, ok := byName[n]; !ok {
				errs = append(errs, fmt.Errorf("Groups[%d].Nested: no group named %q", i, n))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A cycle would make transitive membership endless.
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("Groups: %q is nested in itself", name)
		case 2:
			return nil
		}
		state[name] = 1
		for _, n := range byName[name].Nested {
			if err := visit(n); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for _, g := range specs {
		if err := visit(g.Name); err != nil {
			return err
		}
	}
	return nil
}

// groupState is one group of a tenant. direct and nested are guarded by
// the tenant's dir lock; the cache of transitive members by mu.
type groupState struct {
	id, name string
	direct   map[string]bool // user ids
	nested   []*groupState

	mu        sync.Mutex
	cachedVer int64
	cached    []*userState // transitive user members in id order, at cachedVer
}

// seedGroups draws the groups' members from the population. Caller owns t.
func (t *tenantState) seedGroups(cfg Config, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed)^0x2545f4914f6cdd1d, hash64(t.id+"/groups")))
	var guests []int
	for i, u := range t.users {
		if u.u.UserType == "Guest" {
			guests = append(guests, i)
		}
	}
	n := len(t.users)
	t.groupIDs = make(map[string]*groupState, len(cfg.Groups))
	byName := make(map[string]*groupState, len(cfg.Groups))
	for _, spec := range cfg.Groups {
		g := &groupState{id: derivedUUID(seed, "group", t.id, spec.Name), name: spec.Name, direct: map[string]bool{}, cachedVer: -1}
		for _, i := range rng.Perm(n)[:roundCount(spec.Members, n)] {
			g.direct[t.users[i].u.ID] = true
		}
		have := 0
		for id := range g.direct {
			if t.byKey[id].u.UserType == "Guest" {
				have++
			}
		}
		for _, j := range rng.Perm(len(guests)) {
			if have >= spec.Guests {
				break
			}
			if id := t.users[guests[j]].u.ID; !g.direct[id] {
				g.direct[id] = true
				have++
			}
		}
		t.groups = append(t.groups, g)
		t.groupIDs[g.id] = g
		byName[spec.Name] = g
	}
	for i, spec := range cfg.Groups {
		for _, name := range spec.Nested {
			t.groups[i].nested = append(t.groups[i].nested, byName[name])
		}
	}
}

// transitive returns the group's user members, nested groups' included,
// in id order. Caller holds t.dir (read).
func (t *tenantState) transitive(g *groupState) []*userState {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cachedVer == t.delta.ver {
		return g.cached
	}
	seen := map[*groupState]bool{}
	ids := map[string]bool{}
	var walk func(*groupState)
	walk = func(x *groupState) {
		if seen[x] {
			return
		}
		seen[x] = true
		for id := range x.direct {
			ids[id] = true
		}
		for _, n := range x.nested {
			walk(n)
		}
	}
	walk(g)
	out := make([]*userState, 0, len(ids))
	for id := range ids {
		if u, ok := t.byKey[id]; ok {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b *userState) int { return strings.Compare(a.u.ID, b.u.ID) })
	g.cached, g.cachedVer = out, t.delta.ver
	return out
}

// Group is one Entra group of a tenant.
type Group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Members     []string `json:"members"` // direct user members' ids, in id order
	Groups      []string `json:"groups"`  // direct member groups' ids
}

// Groups returns the tenant's groups as configured; nil for an unknown
// tenant.
func (s *Sim) Groups(tenant string) []Group {
	t, ok := s.tenant(tenant)
	if !ok {
		return nil
	}
	t.dir.RLock()
	defer t.dir.RUnlock()
	out := make([]Group, 0, len(t.groups))
	for _, g := range t.groups {
		x := Group{ID: g.id, DisplayName: g.name, Members: make([]string, 0, len(g.direct)), Groups: []string{}}
		for id := range g.direct {
			x.Members = append(x.Members, id)
		}
		slices.Sort(x.Members)
		for _, n := range g.nested {
			x.Groups = append(x.Groups, n.id)
		}
		out = append(out, x)
	}
	return out
}

// GroupMembers returns the ids of the group's transitive user members in
// id order.
func (s *Sim) GroupMembers(tenant, groupID string) ([]string, error) {
	t, ok := s.tenant(tenant)
	if !ok {
		return nil, fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.RLock()
	defer t.dir.RUnlock()
	g, ok := t.groupIDs[strings.ToLower(groupID)]
	if !ok {
		return nil, fmt.Errorf("teamsim: unknown group %q in tenant %s", groupID, t.id)
	}
	members := t.transitive(g)
	ids := make([]string, len(members))
	for i, u := range members {
		ids[i] = u.u.ID
	}
	return ids, nil
}

const memberTokenPrefix = "members:"

// handleGroupMembers lists a group's transitive user members in id order:
// GET /graph/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$select=&$top=.
func (s *Sim) handleGroupMembers(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPage(w, r, kindGraphGroupMembers, memberTokenPrefix)
	if !ok {
		return
	}
	t, top, sel, after := p.t, p.top, p.sel, p.after
	props, err := parseSelect(sel)
	if err != nil {
		s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	id := r.PathValue("group")
	t.dir.RLock()
	g, ok := t.groupIDs[strings.ToLower(id)]
	if !ok {
		t.dir.RUnlock()
		s.resourceNotFound(w, r, id)
		return
	}
	members := t.transitive(g)
	start := sort.Search(len(members), func(i int) bool { return members[i].u.ID > after })
	end := min(start+top, len(members))
	page := members[start:end]
	base := graphBase(r)
	next := ""
	if end < len(members) {
		next = base + "/groups/" + url.PathEscape(g.id) + "/transitiveMembers/microsoft.graph.user?"
		if sel != "" {
			next += "$select=" + url.QueryEscape(sel) + "&"
		}
		next += "$top=" + strconv.Itoa(top) + "&$skiptoken=" +
			base64.RawURLEncoding.EncodeToString([]byte(memberTokenPrefix+page[len(page)-1].u.ID))
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	out := appendUsersPage((*buf)[:0], base, sel, props, next, "", page, nil)
	t.dir.RUnlock()
	*buf = out
	s.reply(w, r, http.StatusOK, contentTypeGraph, out, true)
}

// handleGroupMemberCount answers the number of the group's transitive user
// members, as text, as Graph's
// GET /groups/{id}/transitiveMembers/microsoft.graph.user/$count does: an
// advanced query, refused without the header ConsistencyLevel: eventual.
func (s *Sim) handleGroupMemberCount(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphGroupMembers)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	if !strings.EqualFold(r.Header.Get("ConsistencyLevel"), "eventual") {
		s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest",
			"Count is not currently supported without the ConsistencyLevel header set to eventual.")
		return
	}
	id := r.PathValue("group")
	t.dir.RLock()
	g, ok := t.groupIDs[strings.ToLower(id)]
	n := 0
	if ok {
		n = len(t.transitive(g))
	}
	t.dir.RUnlock()
	if !ok {
		s.resourceNotFound(w, r, id)
		return
	}
	s.reply(w, r, http.StatusOK, []string{"text/plain"}, []byte(strconv.Itoa(n)), true)
}

// pageRequest is a Graph list request: its tenant, $select, page size, and
// the key after which the page starts (from its $skiptoken).
type pageRequest struct {
	t          *tenantState
	sel, after string
	top        int
}

// readPage counts and authenticates a list request, and reads its options;
// a $skiptoken is valid with tokenPrefix only.
func (s *Sim) readPage(w http.ResponseWriter, r *http.Request, k kind, tokenPrefix string) (pageRequest, bool) {
	s.led.request(k)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return pageRequest{}, false
	}
	q := r.URL.Query()
	if !s.onlyOptions(w, r, q, "select", "top", "skiptoken") {
		return pageRequest{}, false
	}
	top, ok := s.pageSize(w, r, odata(q, "top"), defaultPageSize)
	if !ok {
		return pageRequest{}, false
	}
	p := pageRequest{t: t, sel: odata(q, "select"), top: top}
	if tok := odata(q, "skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), tokenPrefix) {
			s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", "The skip token is not valid.")
			return pageRequest{}, false
		}
		p.after = string(raw[len(tokenPrefix):])
	}
	return p, true
}

// onlyOptions refuses the query options other than allowed (names without "$").
func (s *Sim) onlyOptions(w http.ResponseWriter, r *http.Request, q url.Values, allowed ...string) bool {
	for key := range q {
		name := strings.TrimPrefix(strings.ToLower(key), "$")
		if slices.Contains(allowed, name) {
			continue
		}
		switch name {
		case "select", "top", "skiptoken", "filter", "orderby", "search", "count", "expand", "skip", "format", "deltatoken":
			s.graphFail(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("The query option '%s' is not supported here by the simulator.", key))
			return false
		}
	}
	return true
}

// pageSize reads a $top or odata.maxpagesize value.
func (s *Sim) pageSize(w http.ResponseWriter, r *http.Request, v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		s.graphFail(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
			fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxPageSize))
		return 0, false
	}
	return n, true
}

// resourceNotFound is Graph's 404 for a directory object it does not know.
func (s *Sim) resourceNotFound(w http.ResponseWriter, r *http.Request, id string) {
	s.graphFail(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

const groupTokenPrefix = "groups:"

// handleGroups lists the tenant's groups in id order, as Graph's
// GET /groups?$select=id,displayName&$top= does (other properties are not
// simulated: a $select of them is refused).
func (s *Sim) handleGroups(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPage(w, r, kindGraphGroups, groupTokenPrefix)
	if !ok {
		return
	}
	t, top, sel, after := p.t, p.top, p.sel, p.after
	for _, p := range strings.Split(sel, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "id" && p != "displayName" {
			s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("The simulator's groups have no property '%s'.", p))
			return
		}
	}
	t.dir.RLock()
	all := make([]*groupState, 0, len(t.groups))
	for _, g := range t.groups {
		if g.id > after {
			all = append(all, g)
		}
	}
	t.dir.RUnlock()
	slices.SortFunc(all, func(a, b *groupState) int { return strings.Compare(a.id, b.id) })
	page := all[:min(top, len(all))]
	type group struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	}
	body := struct {
		Value    []group `json:"value"`
		NextLink string  `json:"@odata.nextLink,omitempty"`
	}{Value: make([]group, 0, len(page))}
	for _, g := range page {
		body.Value = append(body.Value, group{ID: g.id, DisplayName: g.name})
	}
	if len(page) < len(all) {
		next := url.Values{}
		if sel != "" {
			next.Set("$select", sel)
		}
		next.Set("$top", strconv.Itoa(top))
		next.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(groupTokenPrefix+page[len(page)-1].id)))
		body.NextLink = graphBase(r) + "/groups?" + next.Encode()
	}
	raw, _ := json.Marshal(body)
	s.reply(w, r, http.StatusOK, contentTypeGraph, raw, true)
}
