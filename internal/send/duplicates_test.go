package send_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// A send answered 502 or 504 may have been posted by what the gateway
// passed it to: each one retried counts once in possibleDuplicates. A 503
// (not taken) counts nothing.
func TestGatewayAnswersCountPossibleDuplicates(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), MaxRetries: 3})
	users := e.Users()
	var ids []string
	inject := func(n int, f teamsim.Fault) {
		for range n {
			u := users[len(ids)].ID
			e.Sim.Inject(e.Tenant, u, f)
			ids = append(ids, u)
		}
	}
	inject(4, teamsim.Fault{Status: 504, Code: "GatewayTimeout", Times: 1})
	inject(3, teamsim.Fault{Status: 502, Code: "BadGateway", Times: 1})
	inject(1, teamsim.Fault{Status: 504, Code: "GatewayTimeout", Times: 2}) // retried twice: two doubts
	inject(5, teamsim.Fault{Status: 503, Code: "ServiceUnavailable", Times: 1})
	ids = append(ids, users[len(ids)].ID, users[len(ids)+1].ID) // two without a fault

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "gateways"}, Audience: broadcast.Audience{UserIDs: ids}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	require.Equal(t, int64(len(ids)), b.Counts.Sent)
	require.EqualValues(t, 4+3+2, b.Counts.PossibleDuplicates, "one per 502/504 retried, none for a 503")
	require.Zero(t, e.Sim.Ledger().Duplicates, "plain faults deliver nothing")
}

// A send answered 504 until the retry budget is spent ends
// failed/retries_exhausted, and every one of its tries counts: the user
// may have the message from any of them, and a replay may send it again.
// The same with 503s counts nothing.
func TestGatewayAnswersBeyondTheRetryBudget(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), MaxRetries: 3})
	users := e.Users()
	e.Sim.Inject(e.Tenant, users[0].ID, teamsim.Fault{Status: 504, Code: "GatewayTimeout", Times: 10})
	e.Sim.Inject(e.Tenant, users[1].ID, teamsim.Fault{Status: 503, Code: "ServiceUnavailable", Times: 10})

	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "exhausted"}, Audience: broadcast.Audience{UserIDs: []string{users[0].ID, users[1].ID}}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)
	require.EqualValues(t, 2, b.Counts.Failed)
	for _, u := range users[:2] {
		r, err := e.Store.Recipient(context.Background(), b.ID, u.ID)
		require.NoError(t, err)
		require.Equal(t, broadcast.ReasonRetriesExhausted, r.Reason)
		require.Equal(t, 4, r.Attempts)
	}
	require.EqualValues(t, 4, b.Counts.PossibleDuplicates, "the 504 user's three retries and its last try; the 503 user's none")
}
