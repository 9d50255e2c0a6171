package pipelinetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func post(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	return rec.Code, rec.Body.Bytes()
}

// A cancel in the middle of sending stops it: the broadcast ends canceled
// with every recipient final, the counters equal the ledger (each sent
// recipient got the message once, no canceled one got it), nothing is sent
// after the end, and no job of it is left in the stream.
func TestCancelStopsSending(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{
		UsersPerTenant: 1000, InstalledFraction: 0.9, BlockedFraction: 0.02, ConnectorRPS: 200, GraphRPS: 200, Seed: 5,
	}, TenantRPS: 40})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Stop me"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitFor(b.ID, time.Minute, "50 sent", func(b *broadcast.Broadcast) bool { return b.Counts.Sent >= 50 })

	code, body := post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusAccepted, code, string(body))
	var got broadcast.Broadcast
	require.NoError(t, json.Unmarshal(body, &got))
	require.Contains(t, []broadcast.Status{broadcast.StatusCanceling, broadcast.StatusCanceled}, got.Status)

	end := e.WaitStatus(b.ID, broadcast.StatusCanceled, 90*time.Second)
	c := end.Counts
	require.Zero(t, c.Pending+c.Installing+c.Sending, "%+v", c)
	require.Equal(t, c.Total, c.Sent+c.Blocked+c.Failed+c.Canceled, "%+v", c)
	require.Positive(t, c.Canceled)
	require.Less(t, c.Sent, c.Total-c.Blocked, "the cancel came before the end")

	// Nothing reaches Teams after the end, and the ledger is the counters.
	time.Sleep(time.Second)
	l := e.Sim.Ledger()
	require.Equal(t, c.Sent, l.Deliveries)
	require.Equal(t, c.Sent, l.DeliveredUsers)
	require.Zero(t, l.Duplicates)
	for _, u := range e.Users() {
		if u.UserType == "Guest" {
			continue
		}
		r, err := e.Store.Recipient(context.Background(), b.ID, u.ID)
		require.NoError(t, err)
		want := 0
		if r.State == broadcast.StateSent {
			want = 1
		}
		require.Len(t, e.Sim.UserDeliveries(e.Tenant, u.ID), want, "user %s in state %s", u.ID, r.State)
	}

	// The stream holds no job of it (the last acks may land a moment after
	// the broadcast ended), and its consumers go.
	testenv.Eventually(t, 20*time.Second, func() bool {
		depth, err := e.Queue.Depth(context.Background(), e.Tenant)
		require.NoError(t, err)
		return depth[broadcast.StageSend]+depth[broadcast.StageInstall] == 0
	}, "no job of the canceled broadcast left in the stream")
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, err := e.Queue.Consumer(context.Background(), queue.ConsumerName(broadcast.StageSend, b.ID))
		return err != nil
	}, "the canceled broadcast's consumer is removed")

	// A second cancel is an answer, not an error; a cancel of a completed
	// broadcast is a conflict.
	code, body = post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusOK, code, string(body))
}

// A cancel right after the create stops the expansion: the broadcast ends
// canceled without having recorded the whole audience, and no job of it
// is left.
func TestCancelStopsExpansion(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{NoWorkers: true})
	ids := make([]string, 50_000)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Never mind"}, Audience: broadcast.Audience{UserIDs: ids}})
	code, body := post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusAccepted, code, string(body))

	end := e.WaitStatus(b.ID, broadcast.StatusCanceled, 2*time.Minute)
	c := end.Counts
	require.Less(t, c.Total, int64(len(ids)), "the expansion stopped early")
	require.Equal(t, c.Total, c.Canceled, "%+v", c)
	// FinishExpansion unregisters the expansion just after the script that
	// ended the broadcast (another slot on Redis Cluster, so not atomically).
	testenv.Eventually(t, 10*time.Second, func() bool {
		expanding, err := e.Store.Expanding(context.Background())
		return err == nil && !slices.Contains(expanding, b.ID)
	}, "the expansion is unregistered")
	time.Sleep(500 * time.Millisecond) // a page in flight at the cancel is purged at the end
	depth, err := e.Queue.Depth(context.Background(), e.Tenant)
	require.NoError(t, err)
	require.Zero(t, depth[broadcast.StageSend]+depth[broadcast.StageInstall], "%v", depth)
}

func TestCancelOfACompletedBroadcastIsAConflict(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1}})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Done soon"}, Audience: broadcast.Audience{AllUsers: true}})
	e.WaitCompleted(b.ID, 2*time.Minute)
	code, body := post(t, e.API, "/v1/broadcasts/"+b.ID+"/cancel")
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "already_completed")
	code, _ = post(t, e.API, "/v1/broadcasts/0190c6d2-0000-7000-8000-000000000000/cancel")
	require.Equal(t, http.StatusNotFound, code)
}
