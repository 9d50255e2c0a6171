package teams_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teams"
)

// fakeGuard refuses requests while refuse is set, can hold them until
// released, and counts writes.
type fakeGuard struct {
	refuse  atomic.Bool
	release chan struct{} // nil: no waiting
	held    chan struct{}
	wrote   atomic.Int32
}

func (g *fakeGuard) Hold(ctx context.Context) error {
	if g.release != nil {
		g.held <- struct{}{}
		<-g.release
	}
	if g.refuse.Load() {
		return errors.New("tenant paused")
	}
	return nil
}

func (g *fakeGuard) Wrote() { g.wrote.Add(1) }

func (g *fakeGuard) Throttled(time.Duration) {}

// The guard is asked once the request has its connection, before anything
// is written: a request it holds reaches the Connector only when it lets
// it go, and one it refuses never does, over a fresh or a reused
// connection.
func TestGuardDecidesBeforeTheWrite(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := teams.NewClient(srv.URL, &tokens{}, &http.Client{Timeout: 5 * time.Second}, "bot")
	require.NoError(t, err)
	activity := []byte(`{"type":"message","text":"hi"}`)

	g := &fakeGuard{release: make(chan struct{}), held: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(teams.WithGuard(context.Background(), g), "a:1", activity)
		done <- err
	}()
	<-g.held
	require.Zero(t, seen.Load(), "not written while held")
	close(g.release)
	require.NoError(t, <-done)
	require.Equal(t, int32(1), seen.Swap(0))
	require.Equal(t, int32(1), g.wrote.Swap(0))

	g = &fakeGuard{}
	g.refuse.Store(true)
	for range 2 {
		_, err = c.Send(teams.WithGuard(context.Background(), g), "a:1", activity)
		require.Error(t, err)
	}
	g.refuse.Store(false)
	_, err = c.Send(teams.WithGuard(context.Background(), g), "a:1", activity)
	require.NoError(t, err)
	require.Equal(t, int32(1), seen.Load(), "the Connector never saw the refused requests")
}
