package send_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

func allInstalled() teamsim.Config {
	return teamsim.Config{UsersPerTenant: 40, InstalledFraction: 1, Seed: 7}
}

// Every row of the Connector's status table, injected for one user each,
// ends in the documented state.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), MaxRetries: 3})
	rows := []struct {
		name   string
		fault  teamsim.Fault
		state  broadcast.State
		reason broadcast.Reason
		check  func(t *testing.T, r broadcast.Recipient)
	}{
		{name: "201 sent", state: broadcast.StateSent},
		{name: "400 BadArgument", fault: teamsim.Fault{Status: 400, Code: "BadArgument", Times: 1}, state: broadcast.StateFailed, reason: broadcast.ReasonBadMessage},
		{name: "401 refreshes the token once", fault: teamsim.Fault{Status: 401, Code: "Unauthorized", Times: 1}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Zero(t, r.Retries) }},
		{name: "403 BotDisabledByAdmin", fault: teamsim.Fault{Status: 403, Code: "BotDisabledByAdmin", Times: 1}, state: broadcast.StateBlocked, reason: broadcast.ReasonBotDisabled},
		{name: "403 ConversationBlockedByUser", fault: teamsim.Fault{Status: 403, Code: "ConversationBlockedByUser", Times: 1}, state: broadcast.StateBlocked, reason: broadcast.ReasonBlockedByUser},
		{name: "403 errorCode 209 MessageWritesBlocked", fault: teamsim.Fault{Status: 403, Code: "209", Times: 1}, state: broadcast.StateBlocked, reason: broadcast.ReasonBlockedByUser},
		{name: "403 BotNotInConversationRoster reinstalls once", fault: teamsim.Fault{Status: 403, Code: "BotNotInConversationRoster", Times: 1}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Equal(t, 1, r.Reinstalls) }},
		{name: "403 BotNotInConversationRoster twice fails", fault: teamsim.Fault{Status: 403, Code: "BotNotInConversationRoster", Times: 2}, state: broadcast.StateFailed, reason: broadcast.ReasonNotInstalled},
		{name: "403 ForbiddenOperationException installs", fault: teamsim.Fault{Status: 403, Code: "ForbiddenOperationException", Times: 1}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Equal(t, 1, r.Reinstalls) }},
		{name: "403 InvalidBotApiHost", fault: teamsim.Fault{Status: 403, Code: "InvalidBotApiHost", Times: 1}, state: broadcast.StateFailed, reason: broadcast.ReasonServiceError},
		{name: "404 ConversationNotFound reinstalls", fault: teamsim.Fault{Status: 404, Code: "ConversationNotFound", Times: 1}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Equal(t, 1, r.Reinstalls) }},
		{name: "412 retried", fault: teamsim.Fault{Status: 412, Code: "PreconditionFailed", Times: 2}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Equal(t, 2, r.Retries) }},
		{name: "413 MessageSizeTooBig", fault: teamsim.Fault{Status: 413, Code: "MessageSizeTooBig", Times: 1}, state: broadcast.StateFailed, reason: broadcast.ReasonMessageTooBig},
		{name: "429 waits Retry-After", fault: teamsim.Fault{Status: 429, Code: "Throttled", Times: 1, RetryAfter: time.Second}, state: broadcast.StateSent,
			check: func(t *testing.T, r broadcast.Recipient) { require.Zero(t, r.Retries, "throttling is not a retry") }},
		{name: "500 ServiceError", fault: teamsim.Fault{Status: 500, Code: "ServiceError", Times: 1}, state: broadcast.StateFailed, reason: broadcast.ReasonServiceError},
		{name: "502 retried", fault: teamsim.Fault{Status: 502, Code: "BadGateway", Times: 1}, state: broadcast.StateSent},
		{name: "503 retried", fault: teamsim.Fault{Status: 503, Code: "ServiceUnavailable", Times: 1}, state: broadcast.StateSent},
		{name: "504 retried", fault: teamsim.Fault{Status: 504, Code: "GatewayTimeout", Times: 1}, state: broadcast.StateSent},
		{name: "503 beyond the retry budget", fault: teamsim.Fault{Status: 503, Code: "ServiceUnavailable", Times: 10}, state: broadcast.StateFailed, reason: broadcast.ReasonRetriesExhausted,
			check: func(t *testing.T, r broadcast.Recipient) { require.Equal(t, 3, r.Retries) }},
	}
	users := e.Users()
	require.GreaterOrEqual(t, len(users), len(rows))
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = users[i].ID
		if row.fault.Status != 0 {
			e.Sim.Inject(e.Tenant, ids[i], row.fault)
		}
	}
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "status table"}, Audience: broadcast.Audience{UserIDs: ids}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r, err := e.Store.Recipient(context.Background(), b.ID, ids[i])
			require.NoError(t, err)
			require.Equal(t, row.state, r.State, "recipient %+v", r)
			require.Equal(t, row.reason, r.Reason, "recipient %+v", r)
			deliveries := e.Sim.UserDeliveries(e.Tenant, ids[i])
			if row.state == broadcast.StateSent {
				require.Len(t, deliveries, 1)
				require.Equal(t, deliveries[0].ActivityID, r.ActivityID)
			} else {
				require.Empty(t, deliveries)
				require.NotEmpty(t, r.LastError)
			}
			if row.check != nil {
				row.check(t, r)
			}
		})
	}
	require.Zero(t, e.Sim.Ledger().RetryAfterViolations)
	require.Zero(t, e.Sim.Ledger().Duplicates)
}

// Three sender processes faster than the tenant's limit are throttled; a
// 429 received by one pauses all three, and they wait every Retry-After, so
// not one request reaches Teams too early.
func TestThrottledRunHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := allInstalled()
	cfg.UsersPerTenant = 60
	cfg.ConnectorRPS = 10
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: cfg, TenantRPS: 30, SendConcurrency: 8, Senders: 3})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "throttled"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	l := e.Sim.Ledger()
	require.Positive(t, l.Throttled, "the run must have been throttled to prove anything")
	require.Zero(t, l.RetryAfterViolations, "requests that arrived before a Retry-After had passed")
	require.EqualValues(t, b.Counts.Sent, l.Deliveries)
	require.Zero(t, l.Duplicates)
	require.Equal(t, b.Counts.Total, b.Counts.Sent)
}

// A send job redelivered after its recipient was sent is acked without a
// second request to Teams.
func TestRedeliveredJobIsNotSentAgain(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), NoWorkers: true})
	ctx := context.Background()
	user := e.Users()[0].ID
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "once"}, Audience: broadcast.Audience{UserIDs: []string{user}}})

	inst := e.Next(queue.ConsumerName(broadcast.StageInstall, b.ID))
	require.NoError(t, e.Installer.Handle(ctx, inst))
	require.NoError(t, inst.Ack())

	msg := e.Next(queue.ConsumerName(broadcast.StageSend, b.ID))
	require.NoError(t, e.Sender.Handle(ctx, msg))
	// The ack is lost: the server redelivers the job.
	require.NoError(t, msg.Nak())
	again := e.Next(queue.ConsumerName(broadcast.StageSend, b.ID))
	md, err := again.Metadata()
	require.NoError(t, err)
	require.EqualValues(t, 2, md.NumDelivered)
	require.NoError(t, e.Sender.Handle(ctx, again), "a settled recipient's job is acked")
	require.NoError(t, again.Ack())

	l := e.Sim.Ledger()
	require.EqualValues(t, 1, l.Deliveries)
	require.EqualValues(t, 1, l.Requests["connector_send"], "no second request reached Teams")
	got, err := e.Store.Broadcast(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, broadcast.StatusCompleted, got.Status)
	require.Equal(t, broadcast.Counts{Total: 1, Sent: 1}, got.Counts)
}

// A malformed job is terminated, not redelivered forever.
func TestMalformedJobIsTerminated(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: allInstalled(), NoWorkers: true})
	require.NoError(t, e.Queue.EnsureConsumers(context.Background(), e.Tenant, "x", broadcast.PriorityNormal))
	_, err := e.JS.Publish(context.Background(), e.Queue.Subject(broadcast.StageSend, broadcast.Job{TenantID: e.Tenant, BroadcastID: "x"}), []byte(`{"b":"x","t":"nope"}`))
	require.NoError(t, err)
	err = e.Sender.Handle(context.Background(), e.Next(queue.ConsumerName(broadcast.StageSend, "x")))
	var term *queue.TerminateError
	require.ErrorAs(t, err, &term)
	require.ErrorIs(t, err, broadcast.ErrBadJob)
}
