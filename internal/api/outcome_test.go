package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// undecided is a Creator whose store never answered a create's or a
// cancel's write (internal/pipelinetest's stall tests freeze a real Redis
// for it).
type undecided struct {
	api.Creator
	id string
}

func (u undecided) err(op string) error {
	return &broadcast.OutcomeUnknownError{Op: op, BroadcastID: u.id, NotAfter: time.Now().Add(2 * time.Second)}
}

func (u undecided) Create(context.Context, *broadcast.CreateRequest) (*broadcast.Broadcast, error) {
	return nil, u.err("create")
}

func (u undecided) Cancel(context.Context, string) (*broadcast.Broadcast, bool, error) {
	return nil, false, u.err("cancel")
}

// A call whose outcome is unknown is answered 503 outcome_unknown with
// the broadcast's id and what a client may do, and audited so.
func TestOutcomeUnknownIsAnsweredAndAudited(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 1}, NoWorkers: true})
	u := undecided{Creator: e.Dispatcher, id: uuid.NewString()}
	_, h := newAdminAPI(t, u, e.Queue, e.Store, e.Log)

	for _, c := range []struct{ path, action, advice string }{
		{"/v1/broadcasts", api.ActionCreate, "same Idempotency-Key is safe"},
		{"/v1/broadcasts/" + u.id + "/cancel", api.ActionCancel, "canceled once"},
	} {
		rec, eb := do(t, h, http.MethodPost, c.path, "application/json", `{"message":{"text":"hi"},"audience":{"allUsers":true}}`)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, c.path)
		require.Equal(t, "outcome_unknown", eb.Error.Code)
		require.Contains(t, eb.Error.Message, c.advice)
		require.NotEmpty(t, rec.Header().Get("Retry-After"))
		var body struct {
			Error struct {
				BroadcastID string `json:"broadcastId"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.Equal(t, u.id, body.Error.BroadcastID)

		entries, _, err := e.Store.Audit(context.Background(), store.AuditFilter{BroadcastID: u.id, Limit: 10})
		require.NoError(t, err)
		require.NotEmpty(t, entries)
		got := entries[0]
		require.Equal(t, c.action, got.Action)
		require.Equal(t, http.StatusServiceUnavailable, got.Status)
		require.Equal(t, "outcome_unknown", got.Code, "the audit log says the outcome is unknown")
	}
}
