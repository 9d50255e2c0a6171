// Command sender posts each recipient's message through the Bot Framework
// Connector at the tenant's rate and records the outcome. Configuration
// comes from the environment; see the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/ratelimit"
	"github.com/broadcast-dev/broadcast/internal/send"
	"github.com/broadcast-dev/broadcast/internal/service"
	"github.com/broadcast-dev/broadcast/internal/teams"
)

func main() { os.Exit(service.Main("sender", config.LoadSender, run)) }

func run(ctx context.Context, env *service.Env, cfg config.Sender) error {
	httpClient := &http.Client{Timeout: cfg.HTTPTimeout, Transport: teams.Transport(cfg.Concurrency)}
	connector, err := teams.NewBotClient(cfg.BotServiceURL, cfg.LoginURL, cfg.BotAppID, cfg.BotAppPassword, httpClient)
	if err != nil {
		return err
	}
	gates := ratelimit.NewTenants(cfg.TenantRPS, env.Store, ratelimit.WithLogger(env.Log.Named("ratelimit")))
	scfg := send.Config{ProcessID: processID(), MaxRetries: cfg.MaxRetries, MaxThrottles: cfg.MaxThrottles, CallTimeout: cfg.HTTPTimeout,
		Concurrency: cfg.Concurrency}
	s := send.New(scfg, env.Store, env.Queue, connector, gates, env.Log)
	// Edits and recalls go through the same gates: the tenant's one budget.
	ch := send.NewChanger(scfg, env.Store, connector, gates, env.Log)
	// Jobs are fetched only when their tenant can take them: not paused,
	// its shared budget not booked far ahead; and only as many as its rate
	// and the Connector's latency keep busy.
	sched := func(stage broadcast.Stage, dl queue.DeadLetter) queue.SchedulerConfig {
		return queue.SchedulerConfig{Stage: stage, Concurrency: cfg.Concurrency, Limit: s.Limit,
			Budgets: env.Store, RPS: cfg.TenantRPS, Grace: cfg.HTTPTimeout + 5*time.Second, DeadLetter: dl}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, stage := range []broadcast.Stage{broadcast.StageSend, broadcast.StageEdit, broadcast.StageRecall} {
		h, dl := s.Handle, s.DeadLetter
		if stage != broadcast.StageSend {
			h, dl = ch.Handle, ch.DeadLetter
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = env.Schedule(ctx, sched(stage, dl), h)
		}()
	}
	wg.Wait()
	gates.LogStats()
	return errors.Join(errs...)
}

func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}
