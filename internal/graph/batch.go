package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/retry"
)

type batchAnswer struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// getBatch makes at most MaxBatch GETs (urls relative to the version
// root, one per user of users) in one $batch and calls found with the
// index and body of each answered 200; a 404 is skipped. Each inner
// request is throttled by Graph on its own: those answered 429 or 5xx are
// asked again, after their Retry-After (the whole client pauses) or a
// backoff, at most MaxRetries times. Any other answer is an error. With
// perRequest, every inner request takes its own place in the client's
// directory rate, as Graph counts it, not only the batch.
func (c *Client) getBatch(ctx context.Context, what string, users, urls []string, perRequest bool, found func(i int, body json.RawMessage) error) error {
	left := make([]int, len(urls))
	for i := range left {
		left[i] = i
	}
	for attempt := 0; len(left) > 0; attempt++ {
		type inner struct {
			ID     string `json:"id"`
			Method string `json:"method"`
			URL    string `json:"url"`
		}
		reqs := make([]inner, len(left))
		for j, i := range left {
			reqs[j] = inner{ID: strconv.Itoa(j), Method: http.MethodGet, URL: urls[i]}
		}
		body, err := json.Marshal(map[string]any{"requests": reqs})
		if err != nil {
			return err
		}
		if perRequest {
			for range len(left) - 1 { // do waits for the last one
				if err := c.wait(ctx, kindDirectory); err != nil {
					return err
				}
			}
		}
		raw, err := c.do(ctx, call{kind: kindDirectory, method: http.MethodPost, url: c.baseURL + "/$batch", body: body,
			fields: []zap.Field{zap.Int("requests", len(left)), zap.String("what", what)}})
		if err != nil {
			return fmt.Errorf("graph: %s %d users: %w", what, len(left), err)
		}
		var ans batchAnswer
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("graph: %s %d users: decode batch answer: %w", what, len(left), err)
		}
		answered := make([]bool, len(left))
		var again []int
		var wait time.Duration
		for _, r := range ans.Responses {
			j, err := strconv.Atoi(r.ID)
			if err != nil || j < 0 || j >= len(left) || answered[j] {
				return fmt.Errorf("graph: %s users: batch answer with unknown id %q", what, r.ID)
			}
			answered[j] = true
			switch i := left[j]; {
			case r.Status == http.StatusOK:
				if err := found(i, r.Body); err != nil {
					return err
				}
			case r.Status == http.StatusNotFound:
			case r.Status == http.StatusTooManyRequests || retryableStatus(r.Status):
				again = append(again, i)
				h := http.Header{}
				for k, v := range r.Headers {
					h.Set(k, v)
				}
				if ra := parseRetryAfter(h.Get("Retry-After")); ra > 0 && r.Status == http.StatusTooManyRequests {
					wait = max(wait, ra)
				}
			default:
				e := parseError(r.Status, http.Header{}, r.Body)
				return fmt.Errorf("graph: %s user %s: %w", what, users[i], e)
			}
		}
		for j, ok := range answered {
			if !ok {
				again = append(again, left[j])
			}
		}
		if len(again) == 0 {
			return nil
		}
		if attempt >= c.maxRetries {
			return fmt.Errorf("graph: %s %d users: still throttled or failing after %d attempts", what, len(again), attempt+1)
		}
		if wait > 0 {
			c.pause(wait) // every request of the client waits, as for a 429 of its own
			c.log.Warn("graph: requests throttled in a batch, pausing the client", zap.String("what", what),
				zap.Int("requests", len(again)), zap.Duration("retry_after", wait))
		} else if err := retry.Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
		left = again
	}
	return nil
}
