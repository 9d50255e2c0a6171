package pipelinetest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/auth"
	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/dispatch"
)

// runningDispatcher is the Env's dispatcher "process".
type runningDispatcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartDispatcher starts a new dispatcher, as a restarted dispatcher
// process is: Env.Dispatcher and Env.API become the new one's. Start calls
// it; a test calls it again after StopDispatcher.
func (e *Env) StartDispatcher() {
	e.T.Helper()
	if e.disp != nil {
		e.T.Fatal("pipelinetest: StartDispatcher while a dispatcher runs: stop it first")
	}
	e.Dispatcher = e.NewDispatcher()
	if e.AdminKey == "" {
		token, k, err := auth.Generate("admin", auth.Admin)
		require.NoError(e.T, err)
		e.AdminKey, e.adminKeys = token, []auth.Key{k}
	}
	keys, err := auth.NewKeys(append(e.opts.Keys[:len(e.opts.Keys):len(e.opts.Keys)], e.adminKeys...))
	require.NoError(e.T, err)
	e.Server = api.New(e.Dispatcher, e.Queue, e.Store, api.Auth{Keys: keys}, e.Log.Named("api"))
	e.Server.SetServiceHosts(simHosts) // the simulator's Connector, and Microsoft's
	e.API = AsKey(e.Server, e.AdminKey)
	ctx, cancel := context.WithCancel(e.ctx)
	r := &runningDispatcher{cancel: cancel, done: make(chan struct{})}
	e.disp = r
	d := e.Dispatcher
	e.run(func() { defer close(r.done); _ = d.Run(ctx) })
}

// NewDispatcher returns a dispatcher configured as the Env's, not
// running: a test runs it beside the Env's as a second process.
func (e *Env) NewDispatcher() *dispatch.Dispatcher {
	graphs := e.Graphs
	return dispatch.New(dispatch.Config{Tenants: e.Tenants, PageSize: 100, ResumeEvery: 200 * time.Millisecond,
		ScheduleEvery: 100 * time.Millisecond, IdempotencyGrace: e.opts.IdempotencyGrace, PublishBudget: e.opts.PublishBudget,
		Approval: e.opts.Approval, Now: e.opts.Now, TimeZone: e.opts.TimeZone, ReminderPrefix: config.DefaultReminderPrefix}, e.Store, e.Queue,
		func(tenant string) (dispatch.Users, error) { return graphs.For(tenant) }, e.Log.Named("dispatch"))
}

// SetApproval sets the approval rule of the dispatchers started from now
// on (StartDispatcher): a test that names the tenant's users as approvers
// learns them once the simulator runs.
func (e *Env) SetApproval(a dispatch.Approval) { e.opts.Approval = a }

// StopDispatcher stops the dispatcher as a shutdown does and waits for it:
// its expansions stop at their saved cursors, its watch of the scheduled
// broadcasts ends. The workers keep running.
func (e *Env) StopDispatcher() {
	e.T.Helper()
	if e.disp == nil {
		return
	}
	e.disp.cancel()
	<-e.disp.done
	e.disp = nil
}

// simHosts allows the simulator (on loopback) and Microsoft's hosts.
var simHosts = func() botauth.ServiceHosts {
	h, err := botauth.ParseServiceHosts("127.0.0.1," + strings.Join(botauth.DefaultServiceHosts, ","))
	if err != nil {
		panic(err)
	}
	return h
}()

// AsKey returns h called with the API key token: requests without an
// Authorization header get "Bearer <token>".
func AsKey(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(w, r)
	})
}
