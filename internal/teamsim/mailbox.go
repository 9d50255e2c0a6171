package teamsim

import (
	"net/http"
	"strconv"
	"strings"
)

// Graph mailboxSettings: GET /users/{id | upn}/mailboxSettings (and
// .../mailboxSettings/timeZone), the time zone a user's messages can be
// timed by. Each user has one of Config.TimeZones, by a hash of the
// tenant, the seed and the user id. Guests have no mailbox in the tenant:
// 404 MailboxNotEnabledForRESTAPI, as Graph answers for users without an
// Exchange Online mailbox.

// DefaultTimeZones mixes Windows and IANA names, as Graph returns both,
// and a user without a time zone.
var DefaultTimeZones = []string{
	"W. Europe Standard Time", "W. Europe Standard Time", "GMT Standard Time", "Eastern Standard Time",
	"Pacific Standard Time", "India Standard Time", "Tokyo Standard Time", "AUS Eastern Standard Time",
	"Europe/Berlin", "America/Sao_Paulo", "",
}

// TimeZone is the mailbox time zone of a user (Graph mailboxSettings
// timeZone); empty when the user has none.
func (s *Sim) TimeZone(tenant, userID string) string {
	u, err := s.user(tenant, userID)
	if err != nil {
		return ""
	}
	return s.timeZone(u)
}

func (s *Sim) timeZone(u *userState) string {
	zones := s.cfg.TimeZones
	if len(zones) == 0 {
		return ""
	}
	return zones[hash64(u.tenant.id+"|tz|"+u.u.ID+"|"+strconv.FormatInt(s.cfg.Seed, 10))%uint64(len(zones))]
}

func (s *Sim) handleMailboxSettings(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphMailbox)
	t, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if !s.onlyOptions(w, r, q, "select") {
		return
	}
	u, ok := s.graphUser(w, r, t)
	if !ok {
		return
	}
	u.mu.Lock()
	guest := u.u.UserType == "Guest"
	u.mu.Unlock()
	if guest {
		s.graphFail(w, r, http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return
	}
	zone := s.timeZone(u)
	ctx := graphBase(r) + "/$metadata#users('" + u.u.ID + "')/mailboxSettings"
	if strings.HasSuffix(r.URL.Path, "/timeZone") {
		s.graphJSON(w, r, http.StatusOK, map[string]string{"@odata.context": ctx + "/timeZone", "value": zone})
		return
	}
	out := map[string]any{
		"@odata.context": ctx,
		"timeZone":       zone,
		"dateFormat":     "yyyy-MM-dd",
		"timeFormat":     "HH:mm",
		"language":       map[string]string{"locale": "en-US", "displayName": "English (United States)"},
		"userPurpose":    "user",
		"workingHours": map[string]any{
			"daysOfWeek": []string{"monday", "tuesday", "wednesday", "thursday", "friday"},
			"startTime":  "08:00:00.0000000", "endTime": "17:00:00.0000000",
			"timeZone": map[string]string{"name": zone},
		},
	}
	if sel := odata(q, "select"); sel != "" {
		keep := map[string]any{"@odata.context": ctx}
		for _, name := range strings.Split(sel, ",") {
			if v, ok := out[strings.TrimSpace(name)]; ok {
				keep[strings.TrimSpace(name)] = v
			}
		}
		out = keep
	}
	s.graphJSON(w, r, http.StatusOK, out)
}
