package graph

import "time"

// PausedUntil exposes the client's pause to tests.
func (c *Client) PausedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pausedUntil
}

var ParseRetryAfter = parseRetryAfter
