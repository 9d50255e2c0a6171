package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// client talks to the dispatcher's API with an admin key.
type client struct {
	base string
	http *http.Client
	key  string
}

// newClient returns a client of the API at addr, with a new admin key:
// the key, and the line that configures the dispatcher with it (API_KEYS).
func newClient(addr string) (c *client, keyLine string, err error) {
	token, k, err := auth.Generate("demo", auth.Admin)
	if err != nil {
		return nil, "", err
	}
	return &client{base: "http://" + addr, http: &http.Client{Timeout: 10 * time.Second}, key: token}, k.Line(), nil
}

// send makes an API call with the client's key.
func (c *client) send(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.key)
	return c.http.Do(req)
}

func (c *client) waitHealthy(ctx context.Context, within time.Duration, procs *processes) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := c.http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := procs.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the dispatcher did not answer on %s within %s (see its log)", c.base, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *client) create(ctx context.Context, body string) (*broadcast.Broadcast, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/broadcasts", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, http.StatusAccepted)
}

func (c *client) get(ctx context.Context, id string) (*broadcast.Broadcast, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/broadcasts/"+id, nil)
	return c.do(req, http.StatusOK)
}

func (c *client) do(req *http.Request, want int) (*broadcast.Broadcast, error) {
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, data)
	}
	var b broadcast.Broadcast
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return &b, nil
}
