package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/broadcast-dev/broadcast/internal/demo"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// Each disruption runs until its plan is done or ctx ends (the broadcast
// completed, or the run timed out). Whatever it stopped it starts again
// before it returns, ctx or not: the check and the clean stop need every
// service and server up.

// killServices kills -9 the dispatchers (first the one expanding, during
// the expansion), the installers and the senders at random moments spread over the broadcast,
// and starts each again after a short random delay with the same
// environment.
func (r *runner) killServices(ctx context.Context) error {
	n := r.o.Disruptions
	if n == 0 {
		n = 12
	}
	// The expansion of a few thousand users takes about a second: the first
	// kill is the dispatcher's, within it.
	if err := sleep(ctx, r.between(100*time.Millisecond, 800*time.Millisecond)); err != nil {
		return err
	}
	if err := r.killAndRestart(r.accepter()); err != nil {
		return err
	}
	// The others each at a random moment of its share of [0, 80%] done.
	slot := 0.80 / float64(n-1)
	for i := 1; i < n; i++ {
		at := slot*float64(i-1) + slot*float64(r.intn(1000))/1000
		if err := r.waitUntil(ctx, at); err != nil {
			return err
		}
		if err := r.killAndRestart(r.victim(i)); err != nil {
			return err
		}
	}
	return nil
}

// accepter names the dispatcher that accepted the broadcast (its log
// says so), the one that starts its expansion: the others take it over
// when it dies. The first dispatcher when no log says so yet.
func (r *runner) accepter() string {
	for i := 1; i <= r.o.Dispatchers; i++ {
		name := demo.ServiceName("dispatcher", i)
		data, err := os.ReadFile(filepath.Join(r.env.WorkDir(), name+".log"))
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if bytes.Contains(line, []byte(`"broadcast accepted"`)) && bytes.Contains(line, []byte(r.id)) {
				return name
			}
		}
	}
	return "dispatcher"
}

// victim picks the ith service to kill: a sender, then an installer, then
// at random a sender half of the time, else an installer or a dispatcher;
// which one of several at random.
func (r *runner) victim(i int) string {
	k := r.intn(4)
	switch i {
	case 1:
		k = 2
	case 2:
		k = 1
	}
	switch k {
	case 0:
		return r.anyOf("dispatcher", r.o.Dispatchers)
	case 1:
		return r.anyOf("installer", r.o.Installers)
	default:
		return r.anyOf("sender", r.o.Senders)
	}
}

// anyOf names one of a service's n processes at random: service,
// service-2, …
func (r *runner) anyOf(service string, n int) string {
	return demo.ServiceName(service, 1+r.intn(n))
}

func (r *runner) killAndRestart(name string) error {
	if err := r.env.Kill(name); err != nil {
		return err
	}
	kind, _, _ := strings.Cut(name, "-") // sender-2: a sender
	r.mu.Lock()
	r.kills[kind]++
	r.mu.Unlock()
	down := r.between(200*time.Millisecond, 3*time.Second)
	fmt.Fprintf(r.o.Out, "%s: kill -9 %s at %.0f%% done; restart in %s\n", r.s.Name, name, 100*r.doneShare(), down.Round(time.Millisecond))
	time.Sleep(down)
	if err := r.env.Restart(name); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	return nil
}

// natsOutages stops the NATS server at random moments of the broadcast and
// starts it again (same port, same store) a few seconds later. The
// services are not restarted: they must reconnect.
func (r *runner) natsOutages(ctx context.Context) error {
	return r.outages(ctx, "NATS", 2, func() error { r.nats.Stop(); return nil }, r.nats.Start)
}

// natsNodeOutages stops one node of the NATS cluster at random moments, a
// random one each time, and starts it again on the same ports and store a
// few seconds later; the other two keep a majority of every stream. The
// services reconnect to the nodes left, and the node back catches up.
func (r *runner) natsNodeOutages(ctx context.Context) error {
	var node *devenv.NATSServer
	stop := func() error {
		node = r.cluster.Node(r.intn(r.cluster.Size()))
		fmt.Fprintf(r.o.Out, "%s: stopping NATS node %s\n", r.s.Name, node.Name())
		node.Stop()
		return nil
	}
	return r.outages(ctx, "a NATS node", 2, stop, func() error { return node.Start() })
}

// redisOutages kills redis-server (SIGKILL: AOF with appendfsync always
// keeps every acknowledged write) at random moments and starts it again on
// the same port and data a few seconds later. The services are not
// restarted: they must reconnect.
func (r *runner) redisOutages(ctx context.Context) error {
	start := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.redis.Start(sctx)
	}
	return r.outages(ctx, "Redis", 2, r.redis.Stop, start)
}

// redisFailovers kills -9 the Redis master that holds the broadcast's keys
// at random moments, waits until its replica has taken over (Sentinel
// promotes it, or the Cluster's own failover), and starts the dead node
// again, which rejoins as a replica; the next failover waits until it is
// in sync. The services are not restarted: they must follow the new
// master.
func (r *runner) redisFailovers(ctx context.Context) error {
	n := r.o.Disruptions
	if n == 0 {
		n = 2
	}
	key := "{b:" + r.id + "}" // the broadcast's hash tag: its slot
	for i := range n {
		if err := r.waitForTurn(ctx, i, n, 0.10); err != nil {
			return err
		}
		at := r.doneShare()
		fctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		started := time.Now()
		dead, err := r.redisHA.KillMaster(fctx, key)
		if err == nil {
			r.mu.Lock()
			r.restarts++
			r.mu.Unlock()
			fmt.Fprintf(r.o.Out, "%s: Redis master %s killed at %.0f%% done; a replica took over in %s\n",
				r.s.Name, dead, 100*at, time.Since(started).Round(time.Millisecond))
			err = r.redisHA.Restart(fctx, dead)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("failover %d: %w", i+1, err)
		}
	}
	return nil
}

// waitForTurn spreads n disruptions over the broadcast: it waits until
// the ith one's moment, a random one of its share of [from, 75%] done. By
// the broadcast's progress, not the clock: on a fast machine a short
// broadcast is over before a clock's first moment comes.
func (r *runner) waitForTurn(ctx context.Context, i, n int, from float64) error {
	slot := (0.75 - from) / float64(n)
	return r.waitUntil(ctx, from+slot*float64(i)+slot*float64(r.intn(1000))/1000)
}

func (r *runner) outages(ctx context.Context, what string, defaultN int, stop, start func() error) error {
	n := r.o.Disruptions
	if n == 0 {
		n = defaultN
	}
	for i := range n {
		if err := r.waitForTurn(ctx, i, n, 0.10); err != nil {
			return err
		}
		if err := stop(); err != nil {
			return fmt.Errorf("stop %s: %w", what, err)
		}
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
		down := r.between(2*time.Second, 8*time.Second)
		fmt.Fprintf(r.o.Out, "%s: %s stopped at %.0f%% done; start in %s\n", r.s.Name, what, 100*r.doneShare(), down.Round(time.Millisecond))
		time.Sleep(down)
		if err := start(); err != nil {
			return fmt.Errorf("start %s again: %w", what, err)
		}
	}
	return nil
}

// throttleBursts throttles the whole tenant at random moments: the next send
// answers 429 with a Retry-After of 1 to 3 s, and every call in that time
// is answered 429 too.
func (r *runner) throttleBursts(ctx context.Context) error {
	n := r.o.Disruptions
	if n == 0 {
		n = 10
	}
	for i := range n {
		if err := r.waitForTurn(ctx, i, n, 0.05); err != nil {
			return err
		}
		ra := time.Duration(1+r.intn(3)) * time.Second
		r.env.Sim().InjectTenant(r.env.Tenants()[0], teamsim.Fault{Status: http.StatusTooManyRequests, Code: "Throttled", RetryAfter: ra})
		r.mu.Lock()
		r.bursts++
		r.mu.Unlock()
	}
	return nil
}
