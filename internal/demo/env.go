package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// What fault tests (internal/chaos) use of a started Env.

// Sim is the simulator, in this process.
func (e *Env) Sim() *teamsim.Sim { return e.sim }

// Tenants are the simulated tenants.
func (e *Env) Tenants() []string { return e.tenants }

// WorkDir holds the services' logs (<name>.log).
func (e *Env) WorkDir() string { return e.work }

// APIURL is the dispatcher's base URL.
func (e *Env) APIURL() string { return e.api.base }

// Announce creates a broadcast of an announcement titled title to all
// users of tenant.
func (e *Env) Announce(ctx context.Context, tenant, title string) (*broadcast.Broadcast, error) {
	return e.create(ctx, tenant, announcement(title), nil, "")
}

// Get reads a broadcast through the API.
func (e *Env) Get(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	return e.api.get(ctx, id)
}

// Recipients reads every recipient of a broadcast through the API, a page
// of 1,000 at a time.
func (e *Env) Recipients(ctx context.Context, id string) ([]broadcast.Recipient, error) {
	var out []broadcast.Recipient
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.api.base+"/v1/broadcasts/"+url.PathEscape(id)+"/recipients?"+q.Encode(), nil)
		resp, err := e.api.send(req)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET recipients of %s: %s: %s", id, resp.Status, data)
		}
		var page api.RecipientsPage
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, fmt.Errorf("GET recipients of %s: %w", id, err)
		}
		for _, r := range page.Recipients {
			out = append(out, r.Recipient)
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

// Kill sends SIGKILL to the running service name (dispatcher, installer,
// sender, sender-2, …) and waits until it has exited; Restart starts it
// again.
func (e *Env) Kill(name string) error {
	c, err := e.procs.kill(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.killed == nil {
		e.killed = make(map[string]*child)
	}
	e.killed[name] = c
	e.mu.Unlock()
	return nil
}

// Restart starts a service that Kill killed, with the same binary and
// environment; its log continues the earlier one's.
func (e *Env) Restart(name string) error {
	e.mu.Lock()
	c := e.killed[name]
	delete(e.killed, name)
	e.mu.Unlock()
	if c == nil {
		return fmt.Errorf("service %s was not killed", name)
	}
	return e.procs.restart(c)
}

// Services names the services running now.
func (e *Env) Services() []string { return e.procs.running() }

// Exited returns an error naming a running service that stopped on its
// own (a killed one is not running).
func (e *Env) Exited() error { return e.procs.exited() }

// Tally compares every simulated user's deliveries with what the
// broadcasts created through this Env owed them.
func (e *Env) Tally() Tally { return tally(e.sim, e.tenants, e.want) }

// Deliverable reports whether the simulated user can get the bot's
// messages: a member who neither blocked the bot nor has it disabled.
func Deliverable(u teamsim.User) bool { return deliverable(u) }

// Expect is what a population's outcome must be.
func Expect(users []teamsim.User) Expected { return expect(users) }

// Call makes an API call with the demo's admin key and returns the
// status and the body. It waits as long as ctx allows: an answer of the
// API may take its whole outcome budget (store.Fence) when Redis stalls.
func (e *Env) Call(ctx context.Context, method, path string, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.api.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+e.api.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}

// Owe notes that n more messages are owed to a user of tenant, by
// broadcasts created through Call, for Tally. Call it from one goroutine,
// not while Tally runs.
func (e *Env) Owe(tenant, user string, n int) {
	if n != 0 {
		e.want[UserKey{tenant, user}] += n
	}
}
