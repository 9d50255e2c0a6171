package teamsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// The users' side of the chat (Config.Engagement): after a message is
// delivered, a share of its users read it, and some of those who read
// react, click the card's Action.Execute or answer. Each is posted to the
// bot's endpoint, signed as the install activities are: a read receipt
// (only for users whose receipts are on), a messageReaction, an
// adaptiveCard/action invoke whose answer is checked, a message.

// Kinds of engagement (Engaged.Kind, EngageRequest.Kind).
const (
	EngageRead        = "read"        // an event application/vnd.microsoft.readReceipt
	EngageReaction    = "reaction"    // a messageReaction
	EngageAcknowledge = "acknowledge" // an invoke adaptiveCard/action
	EngageReply       = "reply"       // a message from the user
)

// Outcomes of an invoke (Engaged.Invoke).
const (
	InvokeValid   = "valid"   // 200 with a documented invoke response within the deadline
	InvokeInvalid = "invalid" // answered in time, but not with a valid invoke response
	InvokeLate    = "late"    // answered after the deadline, or not at all
)

// Defaults of Engagement.
const (
	DefaultInvokeDeadline = 5 * time.Second
	defaultEngageWorkers  = 16
	defaultMaxPending     = 1_000_000
)

// Engagement configures what simulated users do with the messages they
// get. Its zero value does nothing; it needs Config.BotEndpoint.
type Engagement struct {
	// Read is the share of delivered messages (with an id) that their
	// user reads, ReadDelay after the delivery.
	Read      float64
	ReadDelay Delay
	// ReceiptsOn is the share of users whose read receipts are on (a
	// fixed trait of each user): only their reads are posted.
	ReceiptsOn float64
	// Acknowledge, React and Reply are shares of the messages read:
	// the user clicks the card's first Action.Execute (when it has one),
	// reacts, or answers, ActionDelay after reading.
	Acknowledge, React, Reply float64
	ActionDelay               Delay
	// Duplicate is the share of the receipts, reactions and replies posted
	// a second time, the same activity (same id) ActionDelay later: Teams
	// delivers at least once.
	Duplicate float64
	// InvokeDeadline is how long Teams waits for an invoke's answer;
	// later ones count as late. 0: DefaultInvokeDeadline (5 s).
	InvokeDeadline time.Duration
	// Concurrency bounds the posts in flight (default 16); MaxPending the
	// engagements waiting for their time (default 1,000,000; more are
	// dropped and counted).
	Concurrency, MaxPending int
}

func (e Engagement) on() bool { return e.Read > 0 }

func (e Engagement) withDefaults() Engagement {
	if e.InvokeDeadline == 0 {
		e.InvokeDeadline = DefaultInvokeDeadline
	}
	if e.Concurrency == 0 {
		e.Concurrency = defaultEngageWorkers
	}
	if e.MaxPending == 0 {
		e.MaxPending = defaultMaxPending
	}
	return e
}

func (e Engagement) validate(bad func(field, format string, args ...any), fraction func(string, float64)) {
	fraction("Engagement.Read", e.Read)
	fraction("Engagement.ReceiptsOn", e.ReceiptsOn)
	fraction("Engagement.Acknowledge", e.Acknowledge)
	fraction("Engagement.React", e.React)
	fraction("Engagement.Reply", e.Reply)
	fraction("Engagement.Duplicate", e.Duplicate)
	if err := e.ReadDelay.validate(); err != nil {
		bad("Engagement.ReadDelay", "%v", err)
	}
	if err := e.ActionDelay.validate(); err != nil {
		bad("Engagement.ActionDelay", "%v", err)
	}
	if e.InvokeDeadline < 0 {
		bad("Engagement.InvokeDeadline", "must not be negative, got %s", e.InvokeDeadline)
	}
	if e.Concurrency < 0 {
		bad("Engagement.Concurrency", "must not be negative, got %d", e.Concurrency)
	}
	if e.MaxPending < 0 {
		bad("Engagement.MaxPending", "must not be negative, got %d", e.MaxPending)
	}
}

// Engaged is one thing a user did with a message, as the simulator
// posted it to the bot.
type Engaged struct {
	Kind       string    `json:"kind"`
	ActivityID string    `json:"activityId,omitempty"` // the message; a reply's is empty
	At         time.Time `json:"at"`                   // when it was posted (or, unposted, happened)
	// Posted is false for a read by a user whose receipts are off: the
	// bot cannot know of it.
	Posted   bool   `json:"posted"`
	Status   int    `json:"status,omitempty"` // the bot's last answer; 0 none
	Reaction string `json:"reaction,omitempty"`
	Removed  bool   `json:"removed,omitempty"` // a reaction taken back
	Verb     string `json:"verb,omitempty"`
	Text     string `json:"text,omitempty"`
	// Invoke is an acknowledge's outcome (InvokeValid, ...), Reason why
	// it was not valid, Latency how long the bot took to answer.
	// Duplicate marks a second post of an activity (Engagement.Duplicate).
	Duplicate bool          `json:"duplicate,omitempty"`
	Invoke    string        `json:"invoke,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Latency   time.Duration `json:"latency,omitempty"`
}

// engagement is a planned post: what, for whom, when.
type engagement struct {
	due      time.Time
	kind     string
	u        *userState
	conv     string // the conversation as the bot addressed it
	id       string // the message's activity id
	base     string // the simulator's URL as the bot knows it
	receipt  bool   // a read that is posted
	reaction string
	removed  bool
	action   *cardAction
	text     string
	retry    bool // posts of the background plan retry; Engage's do not
	// activityID, when set, is the posted activity's id (a duplicate
	// has its original's); else a new one.
	activityID string
	duplicate  bool
}

var (
	reactionTypes = []string{"like", "like", "like", "heart", "heart", "laugh", "surprised", "sad", "angry"}
	replyTexts    = []string{"Thanks!", "Got it, thank you.", "Where can I find more details?", "👍", "Will do.", "Does this apply to contractors too?"}
)

// engageRNG is u's generator of engagement draws, apart from the fault
// draws so that turning engagement on changes no fault. Caller holds u.mu.
func (u *userState) engageRNG(seed int64) *rand.Rand {
	if u.erng == nil {
		u.erng = rand.New(rand.NewPCG(uint64(seed)^0xe7037ed1a0b428db, hash64(u.tenant.id+"/engage/"+u.u.ID)))
	}
	return u.erng
}

// receiptsOn reports whether u's read receipts are on.
func (s *Sim) receiptsOn(u *userState) bool {
	return share(s.cfg.Engagement.ReceiptsOn, s.cfg.Seed, u.tenant.id+"/receipts/"+u.u.ID)
}

// planEngagement draws what u does with the message id just delivered in
// conv, and when. Caller holds u.mu.
func (s *Sim) planEngagement(u *userState, conv, id, base string, action *cardAction) []engagement {
	e := s.cfg.Engagement
	rng := u.engageRNG(s.cfg.Seed)
	if rng.Float64() >= e.Read {
		return nil
	}
	now := time.Now()
	read := now.Add(e.ReadDelay.draw(rng))
	mk := func(kind string, due time.Time) engagement {
		return engagement{due: due, kind: kind, u: u, conv: conv, id: id, base: base, retry: true}
	}
	r := mk(EngageRead, read)
	r.receipt = s.receiptsOn(u)
	plan := []engagement{r}
	if action != nil && rng.Float64() < e.Acknowledge {
		a := mk(EngageAcknowledge, read.Add(e.ActionDelay.draw(rng)))
		a.action = action
		plan = append(plan, a)
	}
	if rng.Float64() < e.React {
		a := mk(EngageReaction, read.Add(e.ActionDelay.draw(rng)))
		a.reaction = reactionTypes[rng.IntN(len(reactionTypes))]
		plan = append(plan, a)
	}
	if rng.Float64() < e.Reply {
		a := mk(EngageReply, read.Add(e.ActionDelay.draw(rng)))
		a.text = replyTexts[rng.IntN(len(replyTexts))]
		plan = append(plan, a)
	}
	if e.Duplicate > 0 { // no draw without: the same seed, the same users
		for i, n := 0, len(plan); i < n; i++ {
			g := &plan[i]
			if g.kind == EngageAcknowledge || (g.kind == EngageRead && !g.receipt) || rng.Float64() >= e.Duplicate {
				continue
			}
			g.activityID = "f:" + strconv.FormatInt(s.poster.seq.Add(1), 10)
			again := *g
			again.due = g.due.Add(e.ActionDelay.draw(rng))
			again.duplicate = true
			plan = append(plan, again)
		}
	}
	return plan
}

// EngageRequest asks a user to do one thing now (Sim.Engage, POST
// /_sim/engage): whatever the configured shares, and with receipts on.
type EngageRequest struct {
	Tenant string `json:"tenant"`
	User   string `json:"user"`
	Kind   string `json:"kind"` // EngageRead, EngageReaction, EngageAcknowledge, EngageReply
	// ActivityID is the message read, reacted to or acknowledged: one
	// the bot sent the user. A reply's is optional (it goes to the
	// user's current chat).
	ActivityID string `json:"activityId,omitempty"`
	Reaction   string `json:"reaction,omitempty"` // default like
	Removed    bool   `json:"removed,omitempty"`  // reactionsRemoved instead of reactionsAdded
	// Verb and Data override the message card's first Action.Execute;
	// without a Verb the card must have one.
	Verb string          `json:"verb,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	Text string          `json:"text,omitempty"` // a reply's; default a short answer
}

// ErrNoBotEndpoint: the simulator was configured without one.
var ErrNoBotEndpoint = errors.New("teamsim: no bot endpoint configured")

// Engage posts one engagement of a user to the bot and waits for its
// answer, without retries. Tests and benchmarks use it.
func (s *Sim) Engage(ctx context.Context, req EngageRequest) (Engaged, error) {
	if s.poster == nil {
		return Engaged{}, ErrNoBotEndpoint
	}
	u, err := s.user(req.Tenant, req.User)
	if err != nil {
		return Engaged{}, err
	}
	g := engagement{kind: req.Kind, u: u, id: req.ActivityID, receipt: true, reaction: req.Reaction, removed: req.Removed, text: req.Text}
	switch req.Kind {
	case EngageRead, EngageReaction, EngageAcknowledge, EngageReply:
	default:
		return Engaged{}, fmt.Errorf("teamsim: kind %q: want read, reaction, acknowledge or reply", req.Kind)
	}
	if g.reaction == "" {
		g.reaction = "like"
	}
	if g.text == "" {
		g.text = replyTexts[0]
	}
	u.mu.Lock()
	c, action, found := u.message(req.ActivityID)
	if req.ActivityID == "" && req.Kind == EngageReply && u.conv != nil && u.conv.current() {
		c, found = u.conv, true
	}
	u.mu.Unlock()
	if !found {
		return Engaged{}, fmt.Errorf("teamsim: user %s has no message %q from the bot", u.u.ID, req.ActivityID)
	}
	g.conv = c.chatID
	if req.Kind == EngageAcknowledge {
		switch {
		case req.Verb != "":
			g.action = &cardAction{Verb: req.Verb, Data: req.Data}
		case action != nil:
			g.action = action
		default:
			return Engaged{}, fmt.Errorf("teamsim: message %s has no Action.Execute and the request no verb", req.ActivityID)
		}
	}
	if base := s.base.Load(); base != nil {
		g.base = *base
	} else {
		return Engaged{}, errors.New("teamsim: no request reached the simulator yet, so its URL is unknown")
	}
	return s.engage(ctx, g), nil
}

// message finds a message the bot sent u (not deleted): its
// conversation and card action. Caller holds u.mu.
func (u *userState) message(id string) (*convRef, *cardAction, bool) {
	if id == "" {
		return nil, nil, false
	}
	for i := len(u.sent) - 1; i >= 0; i-- {
		if a := &u.sent[i]; a.id == id && !a.deleted {
			return a.conv, a.action, true
		}
	}
	return nil, nil, false
}

// engage carries out g now: posts it (unless it is a read with receipts
// off), records it for the user and in the ledger.
func (s *Sim) engage(ctx context.Context, g engagement) Engaged {
	out := Engaged{Kind: g.kind, ActivityID: g.id, At: s.now(), Reaction: g.reaction, Removed: g.removed, Duplicate: g.duplicate}
	led := &s.led.engage
	if g.duplicate {
		led.duplicates.Add(1)
		out.Posted, out.Status = s.postEngagement(ctx, g, &led.duplicatesTaken)
		out.Reaction, out.Text = g.reaction, g.text
		s.recordEngaged(g, out)
		return out
	}
	switch g.kind {
	case EngageRead:
		led.reads.Add(1)
		if g.receipt {
			out.Posted, out.Status = s.postEngagement(ctx, g, &led.receipts)
		}
		out.Reaction = ""
	case EngageReaction:
		out.Posted, out.Status = s.postEngagement(ctx, g, &led.reactions)
	case EngageReply:
		out.Reaction, out.Text = "", g.text
		out.ActivityID = ""
		out.Posted, out.Status = s.postEngagement(ctx, g, &led.replies)
	case EngageAcknowledge:
		out.Reaction, out.Verb = "", g.action.Verb
		s.invoke(ctx, g, &out)
	}
	if out.Posted && out.Status == 0 && out.Invoke == "" {
		out.Posted = false // cancelled before any answer
	}
	s.recordEngaged(g, out)
	return out
}

// recordEngaged keeps what g did for its user.
func (s *Sim) recordEngaged(g engagement, out Engaged) {
	g.u.mu.Lock()
	g.u.engaged = append(g.u.engaged, out)
	g.u.mu.Unlock()
	s.log.Debug("user engaged", zap.String("kind", out.Kind), zap.String("tenant_id", g.u.tenant.id), zap.String("user_id", g.u.u.ID),
		zap.String("activity_id", g.id), zap.Int("status", out.Status), zap.String("invoke", out.Invoke))
}

// UserEngagement returns what the user did with the bot's messages since
// the last Reset, in the order it was posted.
func (s *Sim) UserEngagement(tenant, userID string) []Engaged {
	u, err := s.user(tenant, userID)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Engaged(nil), u.engaged...)
}
