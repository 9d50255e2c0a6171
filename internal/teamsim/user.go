package teamsim

import (
	"fmt"
	"net/http"
)

// handleUser answers GET /graph/v1.0/users/{id | userPrincipalName}, with
// $select, as Graph does: the user's properties, or 404.
func (s *Sim) handleUser(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphUsers)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	sel := odata(r.URL.Query(), "select")
	props, err := parseSelect(sel)
	if err != nil {
		s.graphFail(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	u, ok := s.graphUser(w, r, t)
	if !ok {
		return
	}
	out := fmt.Appendf(nil, `{"@odata.context":"%s/$metadata#users/$entity"`, graphBase(r))
	for _, p := range props {
		out = append(out, `,"`...)
		out = append(out, p.name...)
		out = append(out, `":`...)
		out = append(out, p.value(u)...)
	}
	out = append(out, '}')
	s.reply(w, r, http.StatusOK, contentTypeGraph, out, true)
}
