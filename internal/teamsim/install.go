package teamsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Graph proactive install: installing the app for a user, finding the
// installation and its 1:1 chat. installedApps GETs and POSTs each count
// against their own per-tenant window.

// handleInstall installs the app for a user:
// POST /graph/v1.0/users/{user}/teamwork/installedApps.
func (s *Sim) handleInstall(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphInstall)
	t, ok := s.graphAuth(w, r)
	if !ok || !s.graphAdmit(w, r, t, t.graphPost) {
		return
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	body, tooBig, err := readBody(r, buf, maxCreateBytes)
	var in struct {
		Bind string `json:"teamsApp@odata.bind"`
	}
	if err != nil || tooBig || json.Unmarshal(body, &in) != nil || in.Bind == "" {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
			"The body must be {\"teamsApp@odata.bind\":\"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}\"}.")
		return
	}
	appID, ok := boundAppID(in.Bind)
	if !ok {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid odata.bind reference '%s'.", in.Bind))
		return
	}
	u, ok := s.graphUser(w, r, t)
	if !ok {
		return
	}
	if !strings.EqualFold(appID, t.catalogID) {
		s.graphFail(w, r, http.StatusNotFound, "NotFound", fmt.Sprintf("The app '%s' was not found in the tenant's app catalog.", appID))
		return
	}
	delay := s.chatDelay()
	u.mu.Lock()
	installed, disabled := u.u.Installed, u.u.Disabled
	var chat string
	if !installed && !disabled {
		s.installLocked(u, s.clock()+delay)
		chat = u.conv.chatID
	}
	u.mu.Unlock()
	switch {
	case disabled:
		// The tenant's app permission policy blocks the app for the user.
		s.led.installsForbidden.Add(1)
		s.graphFail(w, r, http.StatusForbidden, "Forbidden",
			fmt.Sprintf("The app '%s' is blocked for user '%s' by the tenant's app permission policy.", appID, u.u.ID))
		return
	case installed:
		s.led.conflicts.Add(1)
		s.graphFail(w, r, http.StatusConflict, "Conflict", "The app is already installed for this user.")
		return
	}
	s.led.installs.Add(1)
	s.reply(w, r, http.StatusCreated, nil, nil, true)
	// As Teams does, tell the bot once the chat exists.
	s.postInstalled(s.publicBase(r), t.id, u.u.ID, chat, delay)
}

// boundAppID takes the app id out of ".../appCatalogs/teamsApps/{id}" or
// ".../appCatalogs/teamsApps('{id}')".
func boundAppID(bind string) (string, bool) {
	const seg = "appCatalogs/teamsApps"
	i := strings.LastIndex(strings.ToLower(bind), strings.ToLower(seg))
	if i < 0 {
		return "", false
	}
	rest := bind[i+len(seg):]
	switch {
	case strings.HasPrefix(rest, "/"):
		rest = rest[1:]
	case strings.HasPrefix(rest, "('") && strings.HasSuffix(rest, "')"):
		rest = rest[2 : len(rest)-2]
	default:
		return "", false
	}
	if rest == "" || strings.ContainsAny(rest, "/'()") {
		return "", false
	}
	return rest, true
}

// installation is a user's installation of the app, as Graph shows it.
type installation struct {
	ID                 string         `json:"id"`
	TeamsApp           *teamsApp      `json:"teamsApp,omitempty"`
	TeamsAppDefinition map[string]any `json:"teamsAppDefinition,omitempty"`
}

// handleInstalledApps finds a user's installation of the app:
// GET .../users/{user}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{id}'.
func (s *Sim) handleInstalledApps(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphInstalledGet)
	t, ok := s.graphAuth(w, r)
	if !ok || !s.graphAdmit(w, r, t, t.graphGet) {
		return
	}
	q := r.URL.Query()
	var expandApp, expandDef bool
	if e := odata(q, "expand"); e != "" {
		for _, part := range strings.Split(e, ",") {
			switch strings.ToLower(strings.TrimSpace(part)) {
			case "teamsapp":
				expandApp = true
			case "teamsappdefinition":
				expandDef = true
			default:
				s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
					fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.userScopeTeamsAppInstallation'.", part))
				return
			}
		}
	}
	terms, ok := parseFilter(odata(q, "filter"))
	if !ok {
		s.graphFail(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: the simulator supports 'teamsApp/id eq' and 'teamsApp/externalId eq'.")
		return
	}
	u, ok := s.graphUser(w, r, t)
	if !ok {
		return
	}
	app := s.app(t)
	match := true
	for _, term := range terms {
		switch term[0] {
		case "teamsapp/id":
			match = match && strings.EqualFold(term[1], app.ID)
		case "teamsapp/externalid":
			match = match && strings.EqualFold(term[1], app.ExternalID)
		default:
			s.graphFail(w, r, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Invalid filter clause: the simulator does not filter on '%s'.", term[0]))
			return
		}
	}
	u.mu.Lock()
	var inst *installation
	if u.u.Installed && match {
		inst = &installation{ID: u.conv.installationID}
	}
	u.mu.Unlock()
	value := []installation{}
	if inst != nil {
		if expandApp {
			inst.TeamsApp = &app
		}
		if expandDef {
			inst.TeamsAppDefinition = map[string]any{"id": derivedUUID(s.cfg.Seed, "definition", t.id), "teamsAppId": app.ID,
				"displayName": app.DisplayName, "version": "1.0.0"}
		}
		value = append(value, *inst)
	}
	s.graphJSON(w, r, http.StatusOK, map[string]any{
		"@odata.context": graphBase(r) + "/$metadata#users('" + u.u.ID + "')/teamwork/installedApps",
		"value":          value,
	})
}

// handleChat returns the 1:1 chat of an installation:
// GET .../users/{user}/teamwork/installedApps/{installation}/chat.
func (s *Sim) handleChat(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindGraphChat)
	t, ok := s.graphAuth(w, r)
	if !ok || !s.graphAdmit(w, r, t, t.graphGet) {
		return
	}
	u, ok := s.graphUser(w, r, t)
	if !ok {
		return
	}
	instID := r.PathValue("installation")
	u.mu.Lock()
	var c *convRef
	if u.u.Installed && u.conv.installationID == instID {
		c = u.conv
	}
	u.mu.Unlock()
	if c == nil {
		s.graphFail(w, r, http.StatusNotFound, "NotFound", fmt.Sprintf("Installation '%s' of user '%s' was not found.", instID, u.u.ID))
		return
	}
	if !c.readyAt(s.clock()) {
		// Teams creates the chat asynchronously after an install.
		s.graphFail(w, r, http.StatusNotFound, "NotFound", fmt.Sprintf("The chat of installation '%s' of user '%s' was not found.", instID, u.u.ID))
		return
	}
	created := c.created.UTC().Format(time.RFC3339Nano)
	s.graphJSON(w, r, http.StatusOK, map[string]any{
		"@odata.context":      graphBase(r) + "/$metadata#users('" + u.u.ID + "')/teamwork/installedApps('" + instID + "')/chat/$entity",
		"id":                  c.chatID,
		"topic":               nil,
		"createdDateTime":     created,
		"lastUpdatedDateTime": created,
		"chatType":            "oneOnOne",
		"webUrl":              "https://teams.microsoft.com/l/chat/" + url.PathEscape(c.chatID) + "/0?tenantId=" + t.id,
		"tenantId":            t.id,
	})
}
