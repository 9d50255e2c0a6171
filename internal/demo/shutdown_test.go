package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/devenv"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// BuildServices builds the dispatcher, installer, sender and simulator
// binaries into a directory of the test's and returns it.
func BuildServices(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/dispatcher", "./cmd/installer", "./cmd/sender", "./cmd/teamsim")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// Every binary stops on SIGTERM with work in flight, within a bound and
// with status 0, and leaves no recipient claimed; the broadcast then
// completes after a restart with every recipient final and nobody
// messaged twice.
//
// The simulator is the cmd/teamsim binary, with a fresh install's chat
// ready at once (the chat delay is not what this tests). In the first run
// its answers take 500 ms, the dispatcher reads a Graph page a second and the tenant's
// budget is 20 requests/s, so that at the SIGTERM one broadcast's installs
// and sends are waiting on answers (more sends claimed and waiting for the
// budget) and another's expansion is between pages. The second run is
// unlimited.
func TestSIGTERMDrainsEveryBinary(t *testing.T) {
	t.Parallel()
	const users = 2500 // three Graph pages
	built := time.Now()
	bin := BuildServices(t)
	t.Logf("built in %s", time.Since(built).Round(100*time.Millisecond))
	start := time.Now()
	work := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, work)
		}
	})
	ctx := t.Context()
	log := testenv.Logger(t)

	natsURL, stopNATS, err := devenv.StartNATS(ctx, devenv.NATSOptions{StoreDir: filepath.Join(work, "nats")})
	require.NoError(t, err)
	t.Cleanup(stopNATS)
	redisURL := testenv.Redis(t)
	rdb, err := store.Connect(ctx, redisURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)
	tenant := testenv.FreeTenant(t)

	simAddr, err := freeAddr()
	require.NoError(t, err)
	simURL := "http://" + simAddr
	creds := []string{"BOT_APP_ID=" + botAppID, "BOT_APP_PASSWORD=" + botPassword, "TEAMS_APP_ID=" + teamsAppID}
	sim := newProcesses(bin, work, append([]string{"SIM_ADDR=" + simAddr, "SIM_TENANTS=" + tenant,
		fmt.Sprint("SIM_USERS=", users), "SIM_INSTALLED=0.9", "SIM_BLOCKED=0.02",
		"SIM_CONNECTOR_RPS=0", "SIM_GRAPH_RPS=0", "SIM_CONVERSATION_LIMITS=false", "SIM_LATENCY=500ms",
		"SIM_CHAT_READY_DELAY=0", "SIM_CHAT_READY_JITTER=0"}, creds...), log)
	t.Cleanup(func() { sim.stop() })
	require.NoError(t, sim.start("teamsim", "teamsim"))
	control := &http.Client{Timeout: 10 * time.Second}
	testenv.Eventually(t, 20*time.Second, func() bool {
		resp, err := control.Get(simURL + "/_sim/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, "the simulator answers")

	apiAddr, err := freeAddr()
	require.NoError(t, err)
	api, keyLine, err := newClient(apiAddr)
	require.NoError(t, err)
	env := append([]string{"NATS_URL=" + natsURL, "REDIS_URL=" + redisURL, "TENANT_ID=" + tenant, "HTTP_ADDR=" + apiAddr, "API_KEYS=" + keyLine,
		"LOGIN_URL=" + simURL + "/login", "GRAPH_URL=" + simURL + "/graph/v1.0", "BOT_SERVICE_URL=" + simURL + "/connector/",
		"BOT_SERVICE_HOSTS=127.0.0.1"},
		creds...)
	startServices := func(suffix string, rps, graphRPS, dispatcherGraphRPS string) *processes {
		p := newProcesses(bin, work, append(env, "TENANT_RPS="+rps, "GRAPH_RPS="+graphRPS), log)
		t.Cleanup(func() { p.stop() })
		require.NoError(t, p.start("dispatcher", "dispatcher"+suffix, "GRAPH_RPS="+dispatcherGraphRPS))
		require.NoError(t, p.start("installer", "installer"+suffix))
		require.NoError(t, p.start("sender", "sender"+suffix))
		require.NoError(t, api.waitHealthy(ctx, 20*time.Second, p))
		return p
	}

	// First run: slow, so that everything is in flight.
	services := startServices("", "20", "30", "0.1")
	create := func(title string) *broadcast.Broadcast {
		body, err := json.Marshal(createRequest{Message: announcement(title), Audience: broadcast.Audience{AllUsers: true}, TenantID: tenant})
		require.NoError(t, err)
		b, err := api.create(ctx, string(body))
		require.NoError(t, err)
		return b
	}
	get := func(id string) *broadcast.Broadcast {
		b, err := api.get(ctx, id)
		require.NoError(t, err)
		return b
	}
	// One broadcast installing and sending, a second one started: its
	// first recipients are recorded.
	sending := create("Shutdown drill")
	testenv.Eventually(t, 30*time.Second, func() bool {
		c := get(sending.ID).Counts
		return c.Sending > 0 && c.Installing > 0
	}, "the first broadcast installing and sending")
	expanding := create("Shutdown drill, second notice")
	testenv.Eventually(t, 10*time.Second, func() bool { return get(expanding.ID).Counts.Total > 0 }, "the second broadcast's first page")
	before := get(sending.ID)
	t.Logf("%s: SIGTERM; first broadcast %+v", time.Since(start).Round(100*time.Millisecond), before.Counts)

	// stop sends SIGTERM to each, and reports one that has not exited 0
	// within 30 s (a timeout, far above the few seconds a drain takes).
	require.Empty(t, services.stop(), "every service exits 0 on SIGTERM")
	for _, id := range []string{sending.ID, expanding.ID} {
		b, err := st.Broadcast(ctx, id)
		require.NoError(t, err)
		t.Logf("%s: after the exits: %s %s %+v", time.Since(start).Round(100*time.Millisecond), id, b.Status, b.Counts)
		claimed, _, err := st.Recipients(ctx, id, broadcast.StateSending, "", 100)
		require.NoError(t, err)
		require.Empty(t, claimed, "no recipient is left claimed by the stopped sender")
		require.Zero(t, b.Counts.Sending)
		if id == expanding.ID {
			// The audience is resolved into Redis before the expansion
			// (the directory cached by the first broadcast), so the
			// expansion is fast and may have ended before the signal:
			// what is checked is that it ends right after the restart.
			t.Logf("the second broadcast was %s at the signal", b.Status)
		} else {
			require.GreaterOrEqual(t, b.Counts.Sent, before.Counts.Sent)
			require.NotEqual(t, broadcast.StatusCompleted, b.Status)
		}
	}

	// Second run: unlimited. It resumes the expansion and takes the jobs
	// the first run handed back.
	resp, err := control.Post(simURL+"/_sim/faults", "application/json", strings.NewReader(`{"latencyMs":0}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	services = startServices("-restarted", "10000", "10000", "30")
	var done []*broadcast.Broadcast
	testenv.Eventually(t, 60*time.Second, func() bool {
		done = []*broadcast.Broadcast{get(sending.ID), get(expanding.ID)}
		return done[0].Status == broadcast.StatusCompleted && done[1].Status == broadcast.StatusCompleted
	}, "both broadcasts complete after the restart")
	require.Empty(t, services.stop(), "every service exits 0 on SIGTERM")

	var population []teamsim.User
	getJSON(t, control, simURL+"/_sim/users?tenant="+tenant, &population)
	var ledger teamsim.Ledger
	getJSON(t, control, simURL+"/_sim/ledger", &ledger)
	require.Empty(t, sim.stop(), "the simulator exits 0 on SIGTERM")

	want := expect(population)
	var sent int64
	for _, b := range done {
		c := b.Counts
		t.Logf("%s: completed: %s %+v", time.Since(start).Round(100*time.Millisecond), b.ID, c)
		require.EqualValues(t, want.Members, c.Total)
		require.EqualValues(t, want.Deliverable, c.Sent)
		require.EqualValues(t, want.Blocked, c.Blocked)
		require.Zero(t, c.Failed)
		require.Zero(t, c.Pending+c.Installing+c.Sending, "every recipient is final")
		sent += c.Sent
	}
	t.Logf("ledger: %d deliveries to %d users, %d duplicates", ledger.Deliveries, ledger.DeliveredUsers, ledger.Duplicates)
	require.Equal(t, sent, ledger.Deliveries, "one delivery per sent recipient")
	require.EqualValues(t, want.Deliverable, ledger.DeliveredUsers)
	require.Zero(t, ledger.Duplicates)
	require.Zero(t, ledger.RetryAfterViolations)
}

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, data)
	require.NoError(t, json.Unmarshal(data, v), "GET %s", url)
}

// logTails writes the end of every service log in dir to the test's log.
func logTails(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		t.Logf("--- %s (last lines)\n%s", filepath.Base(path), lastLines(string(data), 15))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A service told to stop while it is still starting (here: Redis accepts
// the connection and never answers) stops with status 0: nothing was in
// hand. A restarted service stopped at once used to exit 1 and fail the
// chaos suite's clean-stop check.
func TestSIGTERMWhileStartingExitsZero(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/installer")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	ropts, err := goredis.ParseURL(testenv.Redis(t))
	require.NoError(t, err)
	frozen, err := devenv.NewFreezeProxy(ropts.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = frozen.Close() })
	frozen.Freeze()

	logPath := filepath.Join(t.TempDir(), "installer.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "installer"))
	cmd.Env = append(os.Environ(), "NATS_URL="+testenv.NATS(t), "REDIS_URL=redis://"+frozen.Addr()+"/0",
		"TENANT_ID=00000000-0000-4000-8000-000000000001", "BOT_APP_ID=5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
		"BOT_APP_PASSWORD=not-a-secret", "TEAMS_APP_ID=0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a", "METRICS_ADDR=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The signal handler is in place once it has logged its start.
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), `"msg":"starting"`)
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		data, _ := os.ReadFile(logPath)
		require.NoError(t, err, "the installer's log:\n%s", data)
		require.Contains(t, string(data), "stopped while starting")
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the installer did not stop within 30 s of SIGTERM while starting")
	}
}
