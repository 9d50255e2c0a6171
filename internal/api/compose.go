package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// What an author asks while composing: the message as a recipient gets
// it, and the audience's size. Both read, change nothing, and are checked
// as a create is.

// servedTenant returns the route's tenant, answering 404 for a tenant the
// deployment does not serve.
func (s *Server) servedTenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	tenant := strings.ToLower(r.PathValue("tenant"))
	if !s.creator.Serves(tenant) {
		writeError(w, http.StatusNotFound, "not_found", "this deployment does not serve tenant "+strconv.Quote(tenant), nil)
		return "", false
	}
	return tenant, true
}

// render answers the activity the senders would post for the message,
// personalised for the user "as" names from the directory cache, with its
// size against the payload budget. A message over the budget is rendered
// too (units > maxUnits): a create refuses it.
func (s *Server) render(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.servedTenant(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeRenderRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	activity, err := message.Activity(req.Message)
	if err != nil {
		s.fail(w, broadcast.Invalid("message", "%s", err.Error()))
		return
	}
	out := broadcast.Rendering{Units: message.WorstCaseUnits(activity), MaxUnits: message.MaxActivityUnits}
	if req.As != "" {
		p, found, err := s.cachedUser(r.Context(), tenant, req.As)
		if err != nil {
			s.fail(w, err)
			return
		}
		if !found {
			writeError(w, http.StatusUnprocessableEntity, "unknown_user", "as: no user "+strconv.Quote(req.As)+" in the directory cache of tenant "+tenant,
				[]broadcast.FieldError{{Field: "as", Problem: "no such user in the directory cache"}})
			return
		}
		out.As = &p
		activity = message.Personalize(activity, p)
	}
	out.Activity = activity
	if out.Card, err = message.Card(activity); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// cachedUser is the cached profile of a user id or user principal name.
func (s *Server) cachedUser(ctx context.Context, tenant, idOrUPN string) (broadcast.Profile, bool, error) {
	id := idOrUPN
	if !broadcast.IsGUID(id) {
		ids, err := s.store.UserIDsByUPN(ctx, tenant, []string{idOrUPN})
		if err != nil || ids[idOrUPN] == "" {
			return broadcast.Profile{}, false, err
		}
		id = ids[idOrUPN]
	}
	ps, err := s.store.Profiles(ctx, tenant, []string{id})
	p, ok := ps[id]
	return p, ok, err
}

// audienceSize counts an audience from the directory cache: allUsers
// from the synced directory, users by id or UPN the cache knows, minus the
// excluded users it knows. A group's members are read from Graph when the
// broadcast starts, so the cache cannot count them (allUsers has them all):
// Graph's count of each gives an upper bound, and the answer says which
// groups it could not count, as it says how many users it does not know.
func (s *Server) audienceSize(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.servedTenant(w, r)
	if !ok || !jsonBody(w, r) {
		return
	}
	req, err := broadcast.DecodeSizeRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if !s.decoded(w, err) {
		return
	}
	size, err := s.countAudience(r.Context(), tenant, req.Audience)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, size)
}

func (s *Server) countAudience(ctx context.Context, tenant string, a broadcast.Audience) (*broadcast.AudienceSize, error) {
	// With allUsers, a group adds nobody: its members pass the same filter.
	out := &broadcast.AudienceSize{UncountedGroups: len(a.Exclude.GroupIDs)}
	if !a.AllUsers {
		out.UncountedGroups += len(a.GroupIDs)
	}
	// inAll: whether the allUsers listing has the user (an enabled member,
	// or guest with includeGuests), as the directory sync files them.
	inAll := func(p broadcast.Profile) bool {
		return a.AllUsers && (p.AccountEnabled == nil || *p.AccountEnabled) && (a.IncludeGuests || !p.Guest())
	}
	if a.AllUsers {
		st, err := s.store.DirectorySync(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if !st.SyncedAt.IsZero() {
			at := st.SyncedAt.UTC()
			out.DirectorySyncedAt = &at
		}
		members, guests, err := s.store.DirectorySize(ctx, tenant)
		if err != nil {
			return nil, err
		}
		out.Size = members
		if a.IncludeGuests {
			out.Size += guests
		}
	}
	listed, unknown, err := s.profilesOf(ctx, tenant, a.UserIDs, a.UPNs)
	if err != nil {
		return nil, err
	}
	out.UnknownUsers = unknown
	for _, p := range listed {
		if !inAll(p) {
			out.Size++ // named by id or UPN, a recipient whatever its type
		}
	}
	excluded, unknownExcluded, err := s.profilesOf(ctx, tenant, a.Exclude.UserIDs, a.Exclude.UPNs)
	if err != nil {
		return nil, err
	}
	for id, p := range excluded {
		if _, named := listed[id]; named || inAll(p) {
			out.Size--
		}
	}
	if !a.AllUsers && len(a.GroupIDs) > 0 {
		for _, n := range s.creator.GroupSizes(ctx, tenant, a.GroupIDs) {
			out.GroupMembers += n
			out.CountedGroups++
			out.UncountedGroups--
		}
	}
	out.Exact = out.CountedGroups == 0 && out.UncountedGroups == 0 && out.UnknownUsers == 0 && unknownExcluded == 0 &&
		(!a.AllUsers || out.DirectorySyncedAt != nil)
	return out, nil
}

// profilesOf returns the cached profiles of the users named by id or UPN,
// by id, and how many names the cache does not know.
func (s *Server) profilesOf(ctx context.Context, tenant string, ids, upns []string) (map[string]broadcast.Profile, int, error) {
	unknown := 0
	all := append([]string(nil), ids...)
	if len(upns) > 0 {
		byUPN, err := s.store.UserIDsByUPN(ctx, tenant, upns)
		if err != nil {
			return nil, 0, err
		}
		for _, u := range upns {
			if id, ok := byUPN[u]; ok {
				all = append(all, id)
			} else {
				unknown++
			}
		}
	}
	ps, err := s.store.Profiles(ctx, tenant, all)
	if err != nil {
		return nil, 0, err
	}
	for _, id := range ids {
		if _, ok := ps[id]; !ok {
			unknown++
		}
	}
	return ps, unknown, nil
}

// GroupsPage is the answer of GET /v1/tenants/{tenant}/groups.
type GroupsPage struct {
	Groups []store.GroupName `json:"groups"`
}

// groups finds the tenant's groups by name in the directory cache (the
// names each directory sync caches): those whose name contains search,
// ignoring case, the ones starting with it first.
func (s *Server) groups(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.servedTenant(w, r)
	if !ok {
		return
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("search", "limit")
	limit := c.limit(20, 100)
	search := c.q.Get("search")
	if utf8.RuneCountInString(search) > 256 {
		c.bad("search", "too long: at most 256 characters")
	}
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}
	gs, err := s.store.SearchGroups(r.Context(), tenant, search, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	if gs == nil {
		gs = []store.GroupName{}
	}
	writeJSON(w, http.StatusOK, GroupsPage{Groups: gs})
}
