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

// client talks to the dispatcher's API.
type client struct {
	base string
	http *http.Client
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
	resp, err := c.http.Do(req)
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
