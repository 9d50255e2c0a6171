package teamsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Posting activities to the bot's messaging endpoint (Config.BotEndpoint),
// as Teams does: a conversationUpdate adding the bot when the app is
// installed for a user through Graph, an installationUpdate remove when it
// is uninstalled. Each post runs in a goroutine the poster owns (Close
// stops them and waits), is signed afresh, and is tried up to
// botPostAttempts times, with jittered backoff, on a transport error, a
// 429 or a 5xx; each try within botPostTimeout.
const (
	botPostAttempts = 4
	botPostTimeout  = 5 * time.Second
	botPostBackoff  = 100 * time.Millisecond
)

type botPoster struct {
	endpoint string
	client   *http.Client
	ctx      context.Context
	cancel   context.CancelFunc

	seq atomic.Int64 // ids of the activities posted

	tokMu  sync.Mutex
	tokens map[string]signedToken // by serviceUrl

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

func newBotPoster(endpoint string) *botPoster {
	ctx, cancel := context.WithCancel(context.Background())
	// Many posts go to one endpoint at once (users' engagement): keep
	// connections for them, not the default two.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 512
	return &botPoster{endpoint: endpoint, client: &http.Client{Transport: tr}, ctx: ctx, cancel: cancel}
}

// Close stops the posts in flight and waits for them. The simulator keeps
// serving; it posts no more activities.
func (s *Sim) Close() {
	p := s.poster
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

// channelAccount and the activity types below are what Teams posts.
type channelAccount struct {
	ID          string `json:"id"`
	AADObjectID string `json:"aadObjectId,omitempty"`
	Name        string `json:"name,omitempty"`
}

type botActivity struct {
	Type             string           `json:"type"`
	ID               string           `json:"id"`
	Timestamp        string           `json:"timestamp"`
	Action           string           `json:"action,omitempty"`
	Name             string           `json:"name,omitempty"`
	ChannelID        string           `json:"channelId"`
	ServiceURL       string           `json:"serviceUrl"`
	From             channelAccount   `json:"from"`
	Recipient        channelAccount   `json:"recipient"`
	Conversation     botConversation  `json:"conversation"`
	MembersAdded     []channelAccount `json:"membersAdded,omitempty"`
	ReplyToID        string           `json:"replyToId,omitempty"`
	Text             string           `json:"text,omitempty"`
	TextFormat       string           `json:"textFormat,omitempty"`
	Locale           string           `json:"locale,omitempty"`
	ReactionsAdded   []reactionJSON   `json:"reactionsAdded,omitempty"`
	ReactionsRemoved []reactionJSON   `json:"reactionsRemoved,omitempty"`
	Value            any              `json:"value,omitempty"`
	ChannelData      map[string]any   `json:"channelData"`
}

type botConversation struct {
	ConversationType string `json:"conversationType"`
	TenantID         string `json:"tenantId"`
	ID               string `json:"id"`
}

// userActivity is an activity of the user's personal chat with the bot,
// posted from base. Only with a poster.
func (s *Sim) userActivity(typ, base, tenant, user, chat string) botActivity {
	return botActivity{
		Type: typ, ID: "f:" + strconv.FormatInt(s.poster.seq.Add(1), 10), Timestamp: s.now().UTC().Format(time.RFC3339Nano),
		ChannelID: BotChannel, ServiceURL: base + "/connector/",
		From:         channelAccount{ID: "29:" + user, AADObjectID: user},
		Recipient:    channelAccount{ID: "28:" + s.cfg.BotAppID, Name: "bot"},
		Conversation: botConversation{ConversationType: "personal", TenantID: tenant, ID: chat},
		ChannelData:  map[string]any{"tenant": map[string]string{"id": tenant}},
	}
}

// postInstalled tells the bot, after wait (when the chat exists), that the
// app was installed for the user: a conversationUpdate with the bot in
// membersAdded, whose conversation id is the chat id Graph's installation
// /chat answers.
func (s *Sim) postInstalled(base, tenant, user, chat string, wait time.Duration) {
	if s.poster == nil {
		return
	}
	a := s.userActivity("conversationUpdate", base, tenant, user, chat)
	a.MembersAdded = []channelAccount{{ID: "28:" + s.cfg.BotAppID}}
	a.ChannelData["eventType"] = "teamMemberAdded"
	s.postActivity(a, wait)
}

// postUninstalled tells the bot the app was uninstalled for the user.
func (s *Sim) postUninstalled(base, tenant, user, chat string) {
	if s.poster == nil {
		return
	}
	a := s.userActivity("installationUpdate", base, tenant, user, chat)
	a.Action = "remove"
	s.postActivity(a, 0)
}

// postActivity posts a in the background after wait; nothing without a
// bot endpoint.
func (s *Sim) postActivity(a botActivity, wait time.Duration) {
	p := s.poster
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	s.led.botActivities.Add(1)
	go func() {
		defer p.wg.Done()
		if wait > 0 {
			sleep(p.ctx, wait)
			if p.ctx.Err() != nil {
				s.led.botFailed.Add(1)
				return
			}
			a.Timestamp = s.now().UTC().Format(time.RFC3339Nano)
		}
		if _, ok := s.deliverActivity(p.ctx, p, a, botPostAttempts, &s.led.botAnswers); !ok {
			s.led.botFailed.Add(1)
		}
	}()
}

// deliverActivity posts a until the endpoint takes it (2xx) or refuses it
// for good (another 4xx), within tries tries, and counts each answer in
// answers. status is the last answer's (0: none).
func (s *Sim) deliverActivity(ctx context.Context, p *botPoster, a botActivity, tries int, answers *[maxStatus]atomic.Int64) (status int, ok bool) {
	body, err := json.Marshal(a)
	if err != nil {
		return 0, false
	}
	log := s.log.With(zap.String("activity_type", a.Type), zap.String("tenant_id", a.Conversation.TenantID), zap.String("user_id", a.From.AADObjectID))
	for attempt := 1; ; attempt++ {
		status, _, err := s.exchange(ctx, p, a.ServiceURL, body, botPostTimeout, false)
		if status >= 0 && status < maxStatus {
			answers[status].Add(1)
		}
		switch {
		case err == nil && status >= 200 && status < 300:
			log.Debug("activity posted to the bot", zap.Int("status", status))
			return status, true
		case err == nil && status >= 400 && status < 500 && status != http.StatusTooManyRequests:
			log.Warn("the bot refused the activity", zap.Int("status", status))
			return status, false
		case attempt >= tries || ctx.Err() != nil:
			log.Warn("activity not delivered to the bot", zap.Int("status", status), zap.Int("attempts", attempt), zap.Error(err))
			return status, false
		}
		d := botPostBackoff << (attempt - 1)
		d += rand.N(d) // jitter
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, false
		case <-t.C:
		}
	}
}

// exchange posts body once within timeout and returns the answer's
// status (0: none) and, with keep, its body (up to 64 KB).
func (s *Sim) exchange(ctx context.Context, p *botPoster, serviceURL string, body []byte, timeout time.Duration, keep bool) (int, []byte, error) {
	token, err := s.cachedBotToken(p, serviceURL)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var answer []byte
	if keep {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return 0, nil, err
		}
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	return resp.StatusCode, answer, nil
}

// cachedBotToken is a signed token for serviceURL, reused for half its
// lifetime as the Bot Framework reuses its tokens: signing each of many
// posts would cost the simulator more than the bot spends on them.
func (s *Sim) cachedBotToken(p *botPoster, serviceURL string) (string, error) {
	now := s.now()
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	if t, ok := p.tokens[serviceURL]; ok && now.Sub(t.at) < botTokenTTL/2 && !now.Before(t.at) {
		return t.token, nil
	}
	token, err := s.BotToken(serviceURL)
	if err != nil {
		return "", err
	}
	if p.tokens == nil {
		p.tokens = make(map[string]signedToken)
	}
	p.tokens[serviceURL] = signedToken{token: token, at: now}
	return token, nil
}

type signedToken struct {
	token string
	at    time.Time
}
