package teamsim

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bot Connector: POST /connector/v3/conversations and the activities of a
// conversation. Every call counts against its tenant's ConnectorRPS window;
// sends and creates also against the conversation's limits.

type conversationParams struct {
	IsGroup     bool            `json:"isGroup"`
	Members     []channelMember `json:"members"`
	TenantID    string          `json:"tenantId"`
	ChannelData struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
	} `json:"channelData"`
}

type channelMember struct {
	ID          string `json:"id"`
	AADObjectID string `json:"aadObjectId"`
}

func (s *Sim) handleCreateConversation(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindConnectorCreate)
	if _, p := s.authorize(r, audConnector); p != authOK {
		s.connectorUnauthorized(w, r, p)
		return
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	body, tooBig, err := readBody(r, buf, maxCreateBytes)
	if err != nil || tooBig {
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "The request body could not be read.")
		return
	}
	var p conversationParams
	if err := json.Unmarshal(body, &p); err != nil {
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "The conversation parameters are not valid JSON: "+err.Error())
		return
	}
	tenantID := p.TenantID
	if tenantID == "" {
		tenantID = p.ChannelData.Tenant.ID
	}
	switch {
	case p.IsGroup:
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "Bots cannot create group conversations in Teams.")
		return
	case len(p.Members) != 1:
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "A personal conversation needs exactly one member.")
		return
	case tenantID == "":
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "The tenant id is required (tenantId or channelData.tenant.id).")
		return
	}
	t, ok := s.tenant(tenantID)
	if !ok {
		s.connectorFail(w, r, http.StatusForbidden, codeForbiddenOperation, "The bot is not installed in tenant "+tenantID+".")
		return
	}
	userID := p.Members[0].AADObjectID
	if userID == "" {
		userID = strings.TrimPrefix(p.Members[0].ID, "29:")
	}
	t.dir.RLock()
	u := t.byKey[strings.ToLower(userID)]
	t.dir.RUnlock()

	var convLim *limiter
	if u != nil {
		u.mu.Lock()
		if u.u.Installed {
			convLim = u.conv.lim
		}
		u.mu.Unlock()
	}
	v := admit(s.clock, exchangeOf(r), s.cfg.RetryAfterTolerance, false, t.connector, convLim)
	if !v.ok {
		s.connectorThrottle(w, r, t, v)
		return
	}
	if u == nil {
		s.connectorFail(w, r, http.StatusForbidden, codeForbiddenOperation, "")
		return
	}

	u.mu.Lock()
	if f, ok := u.takeCreateFault(); ok {
		u.mu.Unlock()
		s.answerFault(w, r, t, f, v.now)
		return
	}
	switch {
	case u.u.Disabled:
		u.mu.Unlock()
		s.connectorFail(w, r, http.StatusForbidden, codeBotDisabledByAdmin, "")
		return
	case !u.u.Installed || !u.conv.readyAt(v.now):
		u.mu.Unlock()
		s.connectorFail(w, r, http.StatusForbidden, codeForbiddenOperation, "")
		return
	}
	status := http.StatusCreated
	if u.convCreated {
		status = http.StatusOK // the conversation exists: Teams returns it
	}
	u.convCreated = true
	id := u.conv.connectorID
	u.mu.Unlock()

	out := append((*buf)[:0], `{"id":"`...)
	out = append(out, id...)
	out = append(out, `"}`...)
	*buf = out
	s.reply(w, r, status, contentTypeJSON, out, true)
}

// handleSend posts a message: POST .../conversations/{conv}/activities
// (and .../activities/{id}, a reply, which in a 1:1 chat is a send).
func (s *Sim) handleSend(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindConnectorSend)
	if _, p := s.authorize(r, audConnector); p != authOK {
		s.connectorUnauthorized(w, r, p)
		return
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	body, tooBig, err := readBody(r, buf, maxActivityBytes)
	if err != nil {
		s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "The request body could not be read.")
		return
	}
	c, ok := s.convs.load(r.PathValue("conv"))
	if !ok {
		s.connectorFail(w, r, http.StatusNotFound, codeConversationNotFound, "")
		return
	}
	u, t := c.user, c.user.tenant
	v := admit(s.clock, exchangeOf(r), s.cfg.RetryAfterTolerance, false, t.connector, c.lim)
	if !v.ok {
		s.connectorThrottle(w, r, t, v)
		return
	}
	act := checkActivity(body, tooBig)
	var action *cardAction // what a user's click sends back
	if s.poster != nil && act.status == 0 && !act.split {
		action = findExecute(body)
	}
	// gateway is a 502 or 504 answered after the message was delivered:
	// a gateway that gave up waiting for Teams, which had taken it.
	var gateway int
	if f, ok := t.takeFault(); ok {
		if !f.Delivered {
			s.answerFault(w, r, t, f, v.now)
			return
		}
		gateway = f.Status
	}

	u.mu.Lock()
	if d := s.slowDraw(u); d > 0 {
		w = &slowWriter{ResponseWriter: w, r: r, d: d}
	}
	if gateway == 0 {
		if f, ok := u.takeFault(); ok {
			if !f.Delivered {
				u.mu.Unlock()
				s.answerFault(w, r, t, f, v.now)
				return
			}
			gateway = f.Status
		}
	}
	if gateway == 0 {
		status, delivered := s.randomFault(u)
		if status != 0 && !delivered {
			u.mu.Unlock()
			s.connectorFail(w, r, status, defaultConnectorCode(status), "")
			return
		}
		gateway = status
	}
	status, code, message := act.status, act.code, act.message
	if rs, rc := refusal(c, v.now); rs != 0 {
		status, code, message = rs, rc, ""
	}
	if status != 0 {
		u.mu.Unlock()
		if gateway != 0 { // nothing delivered, but the gateway answers all the same
			status, code, message = gateway, defaultConnectorCode(gateway), ""
		}
		s.connectorFail(w, r, status, code, message)
		return
	}
	var id string
	var plan []engagement
	if !act.split {
		id = strconv.FormatInt(s.activitySeq.Add(1), 10)
		u.sent = append(u.sent, sentActivity{id: id, conv: c, history: []string{act.hash}, action: action})
		if s.engager != nil {
			plan = s.planEngagement(u, c.chatID, id, s.publicBase(r), action)
		}
	}
	s.led.recordDelivery(u, Delivery{ActivityID: id, ContentHash: act.hash, At: s.epoch.Add(v.now)})
	u.mu.Unlock()
	s.engager.add(plan)
	if gateway != 0 {
		s.led.deliveredWithError.Add(1)
		s.connectorFail(w, r, gateway, defaultConnectorCode(gateway), "")
		return
	}

	out := append((*buf)[:0], '{')
	if id != "" {
		out = append(out, `"id":"`...)
		out = append(out, id...)
		out = append(out, '"')
	}
	out = append(out, '}')
	*buf = out
	s.reply(w, r, http.StatusCreated, contentTypeJSON, out, true)
	if r.Context().Err() != nil {
		s.led.unanswered.Add(1) // the client gave up before the answer
	}
}

// slowDraw draws from the user's generator whether this send's answer is
// slow (SlowRate), and returns the extra wait. Caller holds u.mu.
func (s *Sim) slowDraw(u *userState) time.Duration {
	rate := math.Float64frombits(s.slowRate.Load())
	if rate == 0 {
		return 0
	}
	if float64(u.rng.Uint64()>>11)/(1<<53) < rate {
		return time.Duration(s.slowLatency.Load())
	}
	return 0
}

// slowWriter holds an answer back for d before its header is written, or
// until the client goes away.
type slowWriter struct {
	http.ResponseWriter
	r      *http.Request
	d      time.Duration
	waited bool
}

func (w *slowWriter) WriteHeader(code int) {
	if !w.waited {
		w.waited = true
		t := time.NewTimer(w.d)
		select {
		case <-t.C:
		case <-w.r.Context().Done():
		}
		t.Stop()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *slowWriter) Write(b []byte) (int, error) {
	if !w.waited {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// refusal is the 403 a conversation's user state gives at now, if any.
// Caller holds c.user.mu.
func refusal(c *convRef, now time.Duration) (status int, code string) {
	u := c.user
	switch {
	case !c.current():
		return http.StatusForbidden, codeNotInRoster
	case !c.readyAt(now):
		return http.StatusForbidden, codeForbiddenOperation
	case u.u.Disabled:
		return http.StatusForbidden, codeBotDisabledByAdmin
	case u.u.Blocked && u.u.BlockShape == BlockShape209:
		return http.StatusForbidden, BlockShape209
	case u.u.Blocked:
		return http.StatusForbidden, codeBlockedByUser
	}
	return 0, ""
}

var transientStatuses = [...]int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// randomFault draws from the user's own generator whether this send fails
// with 502/503/504 (ErrorRate) or 412 (PreconditionRate), and whether a
// 502 or 504 comes after the delivery (GatewayDeliveredRate). Caller holds
// u.mu.
func (s *Sim) randomFault(u *userState) (status int, delivered bool) {
	errRate := math.Float64frombits(s.errorRate.Load())
	preRate := math.Float64frombits(s.preconditionRate.Load())
	if errRate == 0 && preRate == 0 {
		return 0, false
	}
	x := float64(u.rng.Uint64()>>11) / (1 << 53)
	switch {
	case x < errRate:
		status = transientStatuses[u.rng.Uint64()%uint64(len(transientStatuses))]
		if rate := math.Float64frombits(s.gatewayDelivered.Load()); rate > 0 && isGateway(status) {
			delivered = float64(u.rng.Uint64()>>11)/(1<<53) < rate
		}
		return status, delivered
	case x < errRate+preRate:
		return http.StatusPreconditionFailed, false
	}
	return 0, false
}

// isGateway reports whether status is a gateway's: 502 or 504.
func isGateway(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// answerFault answers an injected fault. A 429 with a RetryAfter blocks the
// tenant's Connector calls for as long.
func (s *Sim) answerFault(w http.ResponseWriter, r *http.Request, t *tenantState, f Fault, now time.Duration) {
	if f.Status == http.StatusTooManyRequests && f.RetryAfter > 0 {
		ra := roundRetryAfter(f.RetryAfter, false)
		ex := exchangeOf(r)
		t.connector.block(now, now+ra, ex.graceAt(now, s.cfg.RetryAfterTolerance), ex)
		w.Header()["Retry-After"] = []string{retryAfterHeader(ra)}
	}
	s.connectorFail(w, r, f.Status, f.Code, "")
}

// handleUpdate replaces a message the bot sent:
// PUT .../conversations/{conv}/activities/{activity}.
func (s *Sim) handleUpdate(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindConnectorUpdate)
	s.changeActivity(w, r, true)
}

// handleDelete deletes a message the bot sent:
// DELETE .../conversations/{conv}/activities/{activity}.
func (s *Sim) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.led.request(kindConnectorDelete)
	s.changeActivity(w, r, false)
}

func (s *Sim) changeActivity(w http.ResponseWriter, r *http.Request, update bool) {
	if _, p := s.authorize(r, audConnector); p != authOK {
		s.connectorUnauthorized(w, r, p)
		return
	}
	var act checkedActivity
	if update {
		buf := s.getBuf()
		defer s.putBuf(buf)
		body, tooBig, err := readBody(r, buf, maxActivityBytes)
		if err != nil {
			s.connectorFail(w, r, http.StatusBadRequest, codeBadArgument, "The request body could not be read.")
			return
		}
		act = checkActivity(body, tooBig)
	}
	c, ok := s.convs.load(r.PathValue("conv"))
	if !ok {
		s.connectorFail(w, r, http.StatusNotFound, codeConversationNotFound, "")
		return
	}
	u, t := c.user, c.user.tenant
	v := admit(s.clock, exchangeOf(r), s.cfg.RetryAfterTolerance, false, t.connector, nil)
	if !v.ok {
		s.connectorThrottle(w, r, t, v)
		return
	}
	if f, ok := t.takeFault(); ok {
		s.answerFault(w, r, t, f, v.now)
		return
	}
	activityID := r.PathValue("activity")

	u.mu.Lock()
	if f, ok := u.takeFault(); ok {
		u.mu.Unlock()
		s.answerFault(w, r, t, f, v.now)
		return
	}
	if status, code := refusal(c, v.now); status != 0 {
		u.mu.Unlock()
		s.connectorFail(w, r, status, code, "")
		return
	}
	if act.status != 0 {
		u.mu.Unlock()
		s.connectorFail(w, r, act.status, act.code, act.message)
		return
	}
	found := -1
	for i := range u.sent {
		if a := &u.sent[i]; a.id == activityID && a.conv == c && !a.deleted {
			found = i
			break
		}
	}
	if found < 0 {
		u.mu.Unlock()
		s.connectorFail(w, r, http.StatusNotFound, codeNotFound, "")
		return
	}
	if d := s.slowDraw(u); d > 0 {
		// Carried out, answered late: as a slow send.
		w = &slowWriter{ResponseWriter: w, r: r, d: d}
	}
	if a := &u.sent[found]; update {
		a.updates++
		a.history = append(a.history, act.hash)
		if len(a.history) > maxHistory {
			a.history = a.history[len(a.history)-maxHistory:]
		}
	} else {
		a.deleted = true
	}
	u.mu.Unlock()

	if !update {
		s.led.deletes.Add(1)
		s.reply(w, r, http.StatusOK, nil, nil, true)
		return
	}
	s.led.updates.Add(1)
	s.reply(w, r, http.StatusOK, contentTypeJSON, []byte(`{"id":"`+activityID+`"}`), true)
}

func (s *Sim) handleConnectorUnknown(w http.ResponseWriter, r *http.Request) {
	s.connectorFail(w, r, http.StatusNotFound, codeNotFound, "The simulator has no Connector operation "+r.Method+" "+r.URL.Path+".")
}
