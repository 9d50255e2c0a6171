package teamsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Graph /users: a tenant's users, a page at a time.

const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// userProp is a Graph user property and its JSON value.
type userProp struct {
	name  string
	value func(*userState) string
}

func constant(v string) func(*userState) string { return func(*userState) string { return v } }

// userProps: the first defaultPropCount are what Graph returns without
// $select (userType is not among them).
var userProps = []userProp{
	{"businessPhones", constant("[]")},
	{"displayName", func(u *userState) string { return u.json.displayName }},
	{"givenName", func(u *userState) string { return u.json.givenName }},
	{"jobTitle", func(u *userState) string { return u.json.jobTitle }},
	{"mail", func(u *userState) string { return u.json.mail }},
	{"mobilePhone", constant("null")},
	{"officeLocation", constant("null")},
	{"preferredLanguage", constant("null")},
	{"surname", func(u *userState) string { return u.json.surname }},
	{"userPrincipalName", func(u *userState) string { return u.json.upn }},
	{"id", func(u *userState) string { return u.json.id }},
	{"userType", func(u *userState) string { return u.json.userType }},
	{"accountEnabled", func(u *userState) string { return u.json.accountEnabled }},
	{"department", func(u *userState) string { return u.json.department }},
}

const defaultPropCount = 11

var userPropIndex = func() map[string]int {
	m := make(map[string]int, len(userProps))
	for i, p := range userProps {
		m[strings.ToLower(p.name)] = i
	}
	return m
}()

// parseSelect returns the properties of $select, or the default set.
func parseSelect(sel string) ([]userProp, error) {
	if strings.TrimSpace(sel) == "" {
		return userProps[:defaultPropCount], nil
	}
	var props []userProp
	seen := map[int]bool{}
	for _, name := range strings.Split(sel, ",") {
		name = strings.TrimSpace(name)
		i, ok := userPropIndex[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.user'.", name)
		}
		if !seen[i] {
			seen[i] = true
			props = append(props, userProps[i])
		}
	}
	return props, nil
}

const skipTokenPrefix = "users:"

// handleUsers lists a tenant's users in id order:
// GET /graph/v1.0/users?$select=...&$top=N, then @odata.nextLink.
func (s *Sim) handleUsers(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphUsers)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	for key := range q {
		switch strings.TrimPrefix(strings.ToLower(key), "$") {
		case "select", "top", "skiptoken":
		case "filter", "orderby", "search", "count", "expand", "skip", "format":
			s.graphFail(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("The query option '%s' is not supported by the simulator.", key))
			return
		}
	}
	top := defaultPageSize
	if v := odata(q, "top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			s.graphFail(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxPageSize))
			return
		}
		top = n
	}
	sel := odata(q, "select")
	props, err := parseSelect(sel)
	if err != nil {
		s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	after := ""
	if tok := odata(q, "skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), skipTokenPrefix) {
			s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", "The skip token is not valid.")
			return
		}
		after = string(raw[len(skipTokenPrefix):])
	}
	t.dir.RLock()
	start := sort.Search(len(t.users), func(i int) bool { return t.users[i].u.ID > after })
	end := min(start+top, len(t.users))
	page := t.users[start:end]
	base := graphBase(r)
	next := ""
	if end < len(t.users) {
		next = base + "/users?"
		if sel != "" {
			next += "$select=" + url.QueryEscape(sel) + "&"
		}
		next += "$top=" + strconv.Itoa(top) + "&$skiptoken=" +
			base64.RawURLEncoding.EncodeToString([]byte(skipTokenPrefix+page[len(page)-1].u.ID))
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	out := appendUsersPage((*buf)[:0], base, sel, props, next, "", page, nil)
	t.dir.RUnlock()
	*buf = out
	s.reply(w, r, http.StatusOK, contentTypeGraph, out, true)
}

// appendUsersPage writes a Graph collection of users: the context, the
// nextLink or deltaLink, then the users with props and, for a delta page,
// the removed ids as {"id":...,"@removed":{"reason":"deleted"}}. Caller
// holds the tenant's dir lock (read).
func appendUsersPage(out []byte, base, sel string, props []userProp, next, delta string, page []*userState, removed []string) []byte {
	out = append(out, `{"@odata.context":"`...)
	out = append(out, base...)
	out = append(out, `/$metadata#users`...)
	if sel != "" {
		out = append(out, '(')
		for i, p := range props {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, p.name...)
		}
		out = append(out, ')')
	}
	out = append(out, '"')
	if next != "" {
		out = append(out, `,"@odata.nextLink":`...)
		out = appendJSONString(out, next)
	}
	if delta != "" {
		out = append(out, `,"@odata.deltaLink":`...)
		out = appendJSONString(out, delta)
	}
	out = append(out, `,"value":[`...)
	for i, u := range page {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendUser(out, props, u)
	}
	for i, id := range removed {
		if i > 0 || len(page) > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"id":`...)
		out = appendJSONString(out, id)
		out = append(out, `,"@removed":{"reason":"deleted"}}`...)
	}
	return append(out, "]}"...)
}

// appendUser writes one user with props.
func appendUser(out []byte, props []userProp, u *userState) []byte {
	return append(appendProps(append(out, '{'), props, u), '}')
}

// appendProps writes the user's props as "name":value pairs.
func appendProps(out []byte, props []userProp, u *userState) []byte {
	for j, p := range props {
		if j > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, p.name...)
		out = append(out, `":`...)
		out = append(out, p.value(u)...)
	}
	return out
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
