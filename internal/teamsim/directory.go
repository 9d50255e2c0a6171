package teamsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// The directory changes at run time (AddUser, ChangeUser, RemoveUser), and
// Graph's users/delta reports the changes: a first round lists every user,
// its last page carries a deltaLink, and a round from that link lists the
// users added or changed since and the removed ones as
// {"id":...,"@removed":{"reason":"deleted"}}.

// deltaLog records the directory's changes for delta rounds. Guarded by
// the tenant's dir lock.
type deltaLog struct {
	ver     int64            // the directory's version: one more per change
	changes []change         // in version order
	latest  map[string]int64 // user id -> version of its last change
	gone    map[string]bool  // ids whose last change removed them
	floor   int64            // tokens of rounds from before this version are refused (ExpireDeltaTokens)
}

type change struct {
	ver int64
	id  string
}

// record notes a change of the user id; caller holds t.dir.
func (d *deltaLog) record(id string, removed bool) {
	if d.latest == nil {
		d.latest, d.gone = map[string]int64{}, map[string]bool{}
	}
	d.ver++
	d.changes = append(d.changes, change{ver: d.ver, id: id})
	d.latest[id] = d.ver
	d.gone[id] = removed
}

// deltaToken is the state of a delta round, carried in its links. Since
// is -1 for a first (full) round; the round reports the changes in
// (Since, Upto]; After is the last id listed (full round) or the position
// in the change log (delta round).
type deltaToken struct {
	Instance int64  `json:"i"` // the simulator's epoch: tokens of another run are unknown
	Since    int64  `json:"s"`
	Upto     int64  `json:"u"`
	After    string `json:"a,omitempty"`
	Pos      int    `json:"p,omitempty"`
	Select   string `json:"sel,omitempty"`
	Top      int    `json:"top"`
	Issued   int64  `json:"t"` // unix ms, for DeltaTokenTTL
}

func (s *Sim) encodeToken(tok deltaToken) string {
	raw, _ := json.Marshal(tok)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func (s *Sim) decodeToken(v string) (deltaToken, bool) {
	var tok deltaToken
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || json.Unmarshal(raw, &tok) != nil || tok.Instance != s.epoch.UnixNano() || tok.Top < 1 || tok.Top > maxPageSize {
		return deltaToken{}, false
	}
	return tok, true
}

const defaultDeltaPageSize = 200

// handleUsersDelta serves GET /graph/v1.0/users/delta: $select on the
// first request (kept in the links), the page size from
// Prefer: odata.maxpagesize=N (default 200, at most 999), then
// $skiptoken (nextLink) or $deltatoken (deltaLink).
func (s *Sim) handleUsersDelta(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphUsersDelta)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !s.onlyOptions(w, r, q, "select", "skiptoken", "deltatoken") {
		return
	}
	skip, delta := odata(q, "skiptoken"), odata(q, "deltatoken")
	var tok deltaToken
	t.dir.RLock()
	defer t.dir.RUnlock()
	switch {
	case skip != "" || delta != "":
		v := skip
		if v == "" {
			v = delta
		}
		var ok bool
		tok, ok = s.decodeToken(v)
		if ok && delta != "" && s.now().Sub(time.UnixMilli(tok.Issued)) > s.cfg.DeltaTokenTTL {
			ok = false
		}
		if !ok || tok.Upto < t.delta.floor {
			// Graph answers an expired or unknown delta token so (for
			// directory objects: 400, not the 410 of other resources).
			s.graphFail(w, r, http.StatusBadRequest, "syncStateNotFound",
				"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		if delta != "" {
			tok = deltaToken{Instance: tok.Instance, Since: tok.Upto, Upto: t.delta.ver, Select: tok.Select, Top: tok.Top}
			tok.Pos = sort.Search(len(t.delta.changes), func(i int) bool { return t.delta.changes[i].ver > tok.Since })
		}
	default:
		top, ok := s.pageSize(w, r, preferPageSize(r), defaultDeltaPageSize)
		if !ok {
			return
		}
		sel := odata(q, "select")
		if _, err := parseSelect(sel); err != nil {
			s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		tok = deltaToken{Instance: s.epoch.UnixNano(), Since: -1, Upto: t.delta.ver, Select: sel, Top: top}
	}
	props, _ := parseSelect(tok.Select)
	if tok.Select != "" && !slices.ContainsFunc(props, func(p userProp) bool { return p.name == "id" }) {
		props = append([]userProp{userProps[userPropIndex["id"]]}, props...) // delta always returns id
	}

	var page []*userState
	var removed []string
	done := false
	if tok.Since < 0 {
		start := sort.Search(len(t.users), func(i int) bool { return t.users[i].u.ID > tok.After })
		end := min(start+tok.Top, len(t.users))
		page = t.users[start:end]
		done = end == len(t.users)
		if len(page) > 0 {
			tok.After = page[len(page)-1].u.ID
		}
	} else {
		pos := tok.Pos
		for ; pos < len(t.delta.changes) && t.delta.changes[pos].ver <= tok.Upto && len(page)+len(removed) < tok.Top; pos++ {
			c := t.delta.changes[pos]
			if t.delta.latest[c.id] != c.ver {
				continue // changed again later: reported at its last change
			}
			if t.delta.gone[c.id] {
				removed = append(removed, c.id)
			} else if u, ok := t.byKey[c.id]; ok {
				page = append(page, u)
			}
		}
		tok.Pos = pos
		done = pos == len(t.delta.changes) || t.delta.changes[pos].ver > tok.Upto
	}
	base := graphBase(r)
	var next, deltaLink string
	tok.Issued = s.now().UnixMilli()
	if done {
		deltaLink = base + "/users/delta?$deltatoken=" + s.encodeToken(deltaToken{Instance: tok.Instance, Upto: tok.Upto, Select: tok.Select, Top: tok.Top, Issued: tok.Issued})
	} else {
		next = base + "/users/delta?$skiptoken=" + s.encodeToken(tok)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	out := appendUsersPage((*buf)[:0], base, tok.Select, props, next, deltaLink, page, removed)
	*buf = out
	s.reply(w, r, http.StatusOK, contentTypeGraph, out, true)
}

// preferPageSize reads odata.maxpagesize from the Prefer header.
func preferPageSize(r *http.Request) string {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// handleUser serves GET /graph/v1.0/users/{id or userPrincipalName}?$select=.
func (s *Sim) handleUser(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphUser)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !s.onlyOptions(w, r, q, "select") {
		return
	}
	sel := odata(q, "select")
	props, err := parseSelect(sel)
	if err != nil {
		s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	key := r.PathValue("user")
	t.dir.RLock()
	u, ok := t.byKey[strings.ToLower(key)]
	if !ok {
		t.dir.RUnlock()
		s.resourceNotFound(w, r, key)
		return
	}
	body := []byte(`{"@odata.context":"` + graphBase(r) + `/$metadata#users/$entity",`)
	body = append(appendProps(body, props, u), '}')
	t.dir.RUnlock()
	s.reply(w, r, http.StatusOK, contentTypeGraph, body, true)
}

// UserSpec describes a user to add with AddUser; empty fields get values
// like the seeded population's.
type UserSpec struct {
	ID          string `json:"id,omitempty"`
	GivenName   string `json:"givenName,omitempty"`
	Surname     string `json:"surname,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	UPN         string `json:"userPrincipalName,omitempty"`
	Mail        string `json:"mail,omitempty"`
	JobTitle    string `json:"jobTitle,omitempty"`
	Department  string `json:"department,omitempty"`
	Guest       bool   `json:"guest,omitempty"`
	// AccountDisabled adds the user with accountEnabled false.
	AccountDisabled bool `json:"accountDisabled,omitempty"`
	Installed       bool `json:"installed,omitempty"`
	// Groups are ids of groups the user is a direct member of.
	Groups []string `json:"groups,omitempty"`
}

// UserChange lists the properties ChangeUser sets; nil fields stay.
type UserChange struct {
	DisplayName    *string `json:"displayName,omitempty"`
	GivenName      *string `json:"givenName,omitempty"`
	Surname        *string `json:"surname,omitempty"`
	UPN            *string `json:"userPrincipalName,omitempty"`
	Mail           *string `json:"mail,omitempty"`
	JobTitle       *string `json:"jobTitle,omitempty"`
	Department     *string `json:"department,omitempty"`
	AccountEnabled *bool   `json:"accountEnabled,omitempty"`
}

// AddUser adds a user to the tenant's directory: listed by /users, found
// by id and UPN, reported by the next delta round.
func (s *Sim) AddUser(tenant string, spec UserSpec) (User, error) {
	t, ok := s.tenant(tenant)
	if !ok {
		return User{}, fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.Lock()
	defer t.dir.Unlock()
	t.added++
	n := t.added
	id := strings.ToLower(spec.ID)
	if id == "" {
		id = derivedUUID(s.cfg.Seed, "added", t.id, strconv.Itoa(n))
	} else if _, err := uuid.Parse(id); err != nil {
		return User{}, fmt.Errorf("teamsim: user id %q is not a GUID", spec.ID)
	}
	if _, taken := t.byKey[id]; taken {
		return User{}, fmt.Errorf("teamsim: user %s exists in tenant %s", id, t.id)
	}
	u := &userState{tenant: t}
	u.u = User{ID: id, UserType: "Member", AccountEnabled: !spec.AccountDisabled,
		GivenName: spec.GivenName, Surname: spec.Surname, JobTitle: spec.JobTitle, Department: spec.Department}
	if spec.Guest {
		u.u.UserType = "Guest"
	}
	if u.u.GivenName == "" {
		u.u.GivenName = givenNames[n%len(givenNames)]
	}
	if u.u.Surname == "" {
		u.u.Surname = surnames[(n/len(givenNames))%len(surnames)]
	}
	u.nameUser(1_000_000+n, t.domain)
	if spec.DisplayName != "" {
		u.u.DisplayName = spec.DisplayName
	}
	if spec.UPN != "" {
		u.u.UPN = spec.UPN
		u.u.Mail = spec.UPN
	}
	if spec.Mail != "" {
		u.u.Mail = spec.Mail
	}
	if _, taken := t.byKey[strings.ToLower(u.u.UPN)]; taken {
		return User{}, fmt.Errorf("teamsim: user principal name %q is taken in tenant %s", u.u.UPN, t.id)
	}
	for _, g := range spec.Groups {
		if _, ok := t.groupIDs[strings.ToLower(g)]; !ok {
			return User{}, fmt.Errorf("teamsim: unknown group %q in tenant %s", g, t.id)
		}
	}
	u.encode()
	u.rng.Seed(uint64(s.cfg.Seed)^0x9e3779b97f4a7c15, hash64(t.id+"/"+id))
	if spec.Installed {
		s.installLocked(u, 0)
	}
	i := sort.Search(len(t.users), func(i int) bool { return t.users[i].u.ID > id })
	t.users = slices.Insert(t.users, i, u)
	t.byKey[id] = u
	t.byKey[strings.ToLower(u.u.UPN)] = u
	for _, g := range spec.Groups {
		t.groupIDs[strings.ToLower(g)].direct[id] = true
	}
	t.delta.record(id, false)
	s.log.Info("user added", zap.String("tenant_id", t.id), zap.String("user_id", id))
	return u.u, nil
}

// ChangeUser changes a user's directory properties; the next delta round
// reports the user.
func (s *Sim) ChangeUser(tenant, userID string, c UserChange) (User, error) {
	t, ok := s.tenant(tenant)
	if !ok {
		return User{}, fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.Lock()
	defer t.dir.Unlock()
	u, ok := t.byKey[strings.ToLower(userID)]
	if !ok {
		return User{}, fmt.Errorf("teamsim: unknown user %q in tenant %s", userID, t.id)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c.UPN != nil && !strings.EqualFold(*c.UPN, u.u.UPN) {
		if _, taken := t.byKey[strings.ToLower(*c.UPN)]; taken || *c.UPN == "" {
			return User{}, fmt.Errorf("teamsim: user principal name %q is empty or taken", *c.UPN)
		}
		delete(t.byKey, strings.ToLower(u.u.UPN))
		u.u.UPN = *c.UPN
		t.byKey[strings.ToLower(u.u.UPN)] = u
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.u.DisplayName, c.DisplayName)
	set(&u.u.GivenName, c.GivenName)
	set(&u.u.Surname, c.Surname)
	set(&u.u.Mail, c.Mail)
	set(&u.u.JobTitle, c.JobTitle)
	set(&u.u.Department, c.Department)
	if c.AccountEnabled != nil {
		u.u.AccountEnabled = *c.AccountEnabled
	}
	u.encode()
	t.delta.record(u.u.ID, false)
	return u.u, nil
}

// RemoveUser deletes a user from the directory and from its groups; the
// next delta round reports it as removed. Its conversations stay as they
// were.
func (s *Sim) RemoveUser(tenant, userID string) error {
	t, ok := s.tenant(tenant)
	if !ok {
		return fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.Lock()
	defer t.dir.Unlock()
	u, ok := t.byKey[strings.ToLower(userID)]
	if !ok {
		return fmt.Errorf("teamsim: unknown user %q in tenant %s", userID, t.id)
	}
	id := u.u.ID
	i := sort.Search(len(t.users), func(i int) bool { return t.users[i].u.ID >= id })
	t.users = slices.Delete(t.users, i, i+1)
	delete(t.byKey, id)
	delete(t.byKey, strings.ToLower(u.u.UPN))
	for _, g := range t.groups {
		delete(g.direct, id)
	}
	t.delta.record(id, true)
	s.log.Info("user removed", zap.String("tenant_id", t.id), zap.String("user_id", id))
	return nil
}

// ExpireDeltaTokens makes every delta and skip token issued so far answer
// 400 syncStateNotFound, as Graph does for a deltaLink older than its
// lifetime: the client must start a full round again.
func (s *Sim) ExpireDeltaTokens(tenant string) error {
	t, ok := s.tenant(tenant)
	if !ok {
		return fmt.Errorf("teamsim: unknown tenant %q", tenant)
	}
	t.dir.Lock()
	defer t.dir.Unlock()
	t.delta.ver++
	t.delta.floor = t.delta.ver
	return nil
}

// directoryControlRoutes are the control endpoints that change the
// directory:
//
//	POST   /_sim/directory/users                    {"tenant", UserSpec...} -> 201 User
//	PATCH  /_sim/directory/users/{tenant}/{user}    UserChange -> 200 User
//	DELETE /_sim/directory/users/{tenant}/{user}    -> 204
//	POST   /_sim/directory/expire-delta             {"tenant"} -> 204
//	GET    /_sim/groups?tenant=                     -> [Group]
func (s *Sim) directoryControlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_sim/directory/users", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant string `json:"tenant"`
			UserSpec
		}
		if !readJSON(w, r, &in) {
			return
		}
		u, err := s.AddUser(s.orFirst(in.Tenant), in.UserSpec)
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, u)
	})
	m.HandleFunc("PATCH /_sim/directory/users/{tenant}/{user}", func(w http.ResponseWriter, r *http.Request) {
		var c UserChange
		if !readJSON(w, r, &c) {
			return
		}
		u, err := s.ChangeUser(r.PathValue("tenant"), r.PathValue("user"), c)
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, u)
	})
	m.HandleFunc("DELETE /_sim/directory/users/{tenant}/{user}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.RemoveUser(r.PathValue("tenant"), r.PathValue("user")); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_sim/directory/expire-delta", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant string `json:"tenant"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if err := s.ExpireDeltaTokens(s.orFirst(in.Tenant)); err != nil {
			controlError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_sim/groups", func(w http.ResponseWriter, r *http.Request) {
		groups := s.Groups(s.orFirst(r.URL.Query().Get("tenant")))
		if groups == nil {
			controlError(w, http.StatusNotFound, "unknown tenant")
			return
		}
		writeJSON(w, http.StatusOK, groups)
	})
}

// orFirst is tenant, or the first tenant when empty.
func (s *Sim) orFirst(tenant string) string {
	if tenant == "" {
		return s.order[0].id
	}
	return tenant
}
