package cli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/cli"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// server is an API the CLI calls: its URL, and the key it sends
// (BCAST_API_KEY; none when empty).
type server struct{ url, key string }

// bcast runs the CLI against the env's API (on a real HTTP server) and
// returns its exit status, standard output and standard error.
func bcast(t *testing.T, api server, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	env := map[string]string{"BCAST_API": api.url, "BCAST_API_KEY": api.key}
	code := cli.Run(ctx, args, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// start runs a pipeline and its API on a real HTTP server; the CLI calls
// it with the env's admin key.
func start(t *testing.T, o pipelinetest.Options) (*pipelinetest.Env, server) {
	t.Helper()
	e := pipelinetest.Start(t, o)
	srv := httptest.NewServer(e.Server)
	t.Cleanup(srv.Close)
	return e, server{url: srv.URL, key: e.AdminKey}
}

// A broadcast created from flags and followed to its end; listed, exported
// and its failures replayed; the unreachable report.
func TestCreateWatchListExportReplay(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 12, InstalledFraction: 1, BlockedFraction: 0.2, Seed: 3}})
	var args []string
	var failing, blockedUser string
	members := 0
	for _, u := range e.Users() {
		args = append(args, "--user", u.ID)
		members++
		if u.Blocked && blockedUser == "" {
			blockedUser = u.ID
		}
		if !u.Blocked && !u.Disabled && failing == "" {
			failing = u.ID
		}
	}
	require.NotEmpty(t, blockedUser)
	// One recipient fails: its first try and its 3 retries answer 503.
	e.Sim.Inject(e.Tenant, failing, teamsim.Fault{Status: 503, Times: 4})

	code, out, stderr := bcast(t, api, append([]string{"create", "--tenant", e.Tenant, "--text", "Hello from the CLI", "--watch", "--interval", "100ms"}, args...)...)
	require.Equal(t, cli.ExitFailures, code, "a failed recipient exits 3: %s %s", out, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[0]
	require.Len(t, id, 36, out)
	require.Contains(t, lines[len(lines)-1], id+" completed:")
	require.GreaterOrEqual(t, len(lines), 3, "a line per change, not a bar, when not a terminal: %s", out)
	require.Contains(t, stderr, "1 recipients failed")
	b := e.WaitCompleted(id, 2*time.Minute)
	require.Equal(t, "Hello from the CLI", b.Message.Text)
	require.EqualValues(t, 1, b.Counts.Failed)

	code, out, _ = bcast(t, api, "status", id, "--watch", "--allow-failures")
	require.Equal(t, 0, code)
	require.Contains(t, out, "completed")
	code, out, _ = bcast(t, api, "status", id)
	require.Equal(t, 0, code)
	require.Contains(t, out, "status      completed")
	require.Contains(t, out, "failed 1")

	code, out, _ = bcast(t, api, "list", "--tenant", e.Tenant)
	require.Equal(t, 0, code)
	require.Contains(t, out, "STATUS")
	require.Contains(t, out, id)
	require.Contains(t, out, "Hello from the CLI")
	code, out, _ = bcast(t, api, "list", "--tenant", e.Tenant, "--json", "--status", "completed")
	require.Equal(t, 0, code)
	var listed []cli.Broadcast
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, id, listed[0].ID)

	file := filepath.Join(t.TempDir(), "report.csv")
	code, _, stderr = bcast(t, api, "export", id, "-o", file)
	require.Equal(t, 0, code, stderr)
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+members)
	require.Equal(t, "userId", rows[0][0])
	code, out, _ = bcast(t, api, "export", id, "--state", "failed")
	require.Equal(t, 0, code)
	var who teamsim.User
	for _, u := range e.Users() {
		if strings.EqualFold(u.ID, failing) {
			who = u
		}
	}
	require.NotEmpty(t, who.UPN)
	// The resolution cached the recipients' profiles: the export names them.
	require.Contains(t, out, failing+","+who.UPN+","+who.DisplayName+",failed,retries_exhausted")

	code, out, _ = bcast(t, api, "unreachable", "--tenant", e.Tenant)
	require.Equal(t, 0, code)
	require.Contains(t, out, blockedUser)
	require.Contains(t, out, "blocked_by_user")
	code, out, _ = bcast(t, api, "unreachable", "--tenant", e.Tenant, "--format", "csv")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "userId,userPrincipalName,displayName,reason,broadcastId,at,times\r\n"), out)

	// The fault is spent: a replay delivers the failed one.
	code, out, stderr = bcast(t, api, "replay", id, "--reason", "retries_exhausted", "--watch", "--interval", "100ms")
	require.Equal(t, 0, code, out+stderr)
	require.Contains(t, out, "replay round 1: 1 queued")
	b = e.WaitCompleted(id, 2*time.Minute)
	require.EqualValues(t, 0, b.Counts.Failed)
}

func TestCancelAndErrors(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1}, NoWorkers: true})
	code, out, stderr := bcast(t, api, "create", "--text", "Never sent", "--user", e.Users()[0].ID)
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	code, out, stderr = bcast(t, api, "cancel", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, id)
	e.WaitStatus(id, broadcast.StatusCanceled, 2*time.Minute)
	code, out, stderr = bcast(t, api, "status", id, "--watch", "--interval", "50ms")
	require.Equal(t, cli.ExitCanceled, code, out+stderr)

	// The API's error body, with the field it names.
	code, _, stderr = bcast(t, api, "create", "--text", "hi", "--user", "bob")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "400 Bad Request (invalid_request)")
	require.Contains(t, stderr, "audience.userIds[0]: must be an Entra user object id")
	code, _, stderr = bcast(t, api, "status", "6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "404 Not Found (not_found)")
	code, _, stderr = bcast(t, api, "list", "--status", "bogus")
	require.Equal(t, cli.ExitError, code)
	require.Contains(t, stderr, "status: must be one of")

	// Usage errors, before any request.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--all-users"}, "no message"},
		{[]string{"create", "--text", "hi"}, "no audience"},
		{[]string{"create", "--text", "hi", "--all-users", "--send-at", "tomorrow"}, "--send-at"},
		{[]string{"create", "--title", "T", "--button", "Open", "--all-users"}, `"Title=https://..."`},
		{[]string{"schedule", "--text", "hi", "--all-users"}, "--send-at or --local-time is required"},
		{[]string{"create", "--text", "hi", "--all-users", "--send-at", "2h", "--local-time", "2026-12-08T09:00"}, "not both"},
		{[]string{"status"}, "accepts 1 arg"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"--api", "localhost:8080", "list"}, "--api"},
		{[]string{"unreachable"}, "--tenant"},
	} {
		code, _, stderr := bcast(t, api, c.args...)
		require.Equal(t, cli.ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
	}
}

// schedule and preview against the running pipeline (their routes are on
// main now): a scheduled broadcast waits and is canceled before its time;
// a preview reaches its one user.
func TestScheduleAndPreview(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 4, InstalledFraction: 1}})
	users := e.Users()
	code, out, stderr := bcast(t, api, "schedule", "--text", "Later", "--user", users[0].ID, "--send-at", "2h")
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	b := e.WaitStatus(id, broadcast.StatusScheduled, 10*time.Second)
	require.NotNil(t, b.SendAt)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), *b.SendAt, time.Minute)
	code, out, _ = bcast(t, api, "list", "--tenant", e.Tenant, "--status", "scheduled")
	require.Equal(t, 0, code)
	require.Contains(t, out, id)

	code, out, stderr = bcast(t, api, "preview", id, "--to", users[1].ID, "--watch", "--interval", "100ms")
	require.Equal(t, 0, code, out+stderr)
	pid := strings.SplitN(out, "\n", 2)[0]
	p := e.WaitCompleted(pid, 2*time.Minute)
	require.Equal(t, broadcast.KindPreview, p.Kind)
	require.Equal(t, id, p.PreviewOf)
	require.Len(t, e.Sim.UserDeliveries(e.Tenant, users[1].ID), 1)
	code, out, _ = bcast(t, api, "list", "--tenant", e.Tenant, "--kind", "preview", "--json")
	require.Equal(t, 0, code)
	var listed []cli.Broadcast
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, pid, listed[0].ID)

	code, out, stderr = bcast(t, api, "cancel", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, id+" canceled")
	require.Empty(t, e.Sim.UserDeliveries(e.Tenant, users[0].ID), "the scheduled broadcast never went")
}

// bcast edit and bcast recall on the running pipeline: the edit's round
// and queued count, its progress in status --json, the recall, and the
// edit the recall refuses.
func TestEditAndRecall(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1, Seed: 4}})
	b := e.Create(broadcast.CreateRequest{Message: broadcast.Message{Text: "Frist"}, Audience: broadcast.Audience{AllUsers: true}})
	b = e.WaitCompleted(b.ID, 2*time.Minute)

	code, out, stderr := bcast(t, api, "edit", b.ID, "--text", "First")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "edit round 1: "+strconv.FormatInt(b.Counts.Sent, 10)+" messages queued\n", out)
	e.WaitFor(b.ID, 2*time.Minute, "edit completed", func(b *broadcast.Broadcast) bool {
		return b.Edit != nil && b.Edit.Status == broadcast.ChangeCompleted
	})
	code, out, _ = bcast(t, api, "status", b.ID, "--json")
	require.Equal(t, 0, code)
	var got cli.Broadcast
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.Edit, out)
	require.Equal(t, b.Counts.Sent, got.Edit.Done)

	code, out, stderr = bcast(t, api, "recall", b.ID)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "recall: "+strconv.FormatInt(b.Counts.Sent, 10)+" deletes queued\n", out)
	code, _, stderr = bcast(t, api, "edit", b.ID, "--text", "Again")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "recalled")
	e.WaitFor(b.ID, 2*time.Minute, "recall completed", func(b *broadcast.Broadcast) bool {
		return b.Recall != nil && b.Recall.Status == broadcast.ChangeCompleted && b.Recall.Done == b.Counts.Sent
	})
	require.Equal(t, b.Counts.Sent, e.Sim.Ledger().Deletes)
}

// bcast status shows the engagement beside the delivery; bcast engagement
// shows it all, with the department breakdown.
func TestStatusAndEngagement(t *testing.T) {
	t.Parallel()
	e, api := start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 2, InstalledFraction: 1}, BotEndpoint: true})
	users := e.Users()
	code, out, stderr := bcast(t, api, "create", "--tenant", e.Tenant, "--text", "Read me", "--user", users[0].ID, "--user", users[1].ID)
	require.Equal(t, 0, code, stderr)
	id := strings.TrimSpace(out)
	e.WaitCompleted(id, 2*time.Minute)
	rec, err := e.Store.Recipient(context.Background(), id, users[0].ID)
	require.NoError(t, err)
	status, _ := e.PostActivity(users[0].ID, map[string]any{"type": "event", "id": "r1",
		"name": "application/vnd.microsoft.readReceipt", "value": map[string]any{"lastReadMessageId": rec.ActivityID}})
	require.Equal(t, 200, status)

	code, out, stderr = bcast(t, api, "status", id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "engagement  read 1 (50.0%), acknowledged 0 (0.0%), reacted 0, replied 0 (receipts on for 1 of 2 delivered")

	code, out, stderr = bcast(t, api, "engagement", id, "--breakdown", "department")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "read          1 (50.0%)")
	require.Contains(t, out, "receipts on   1")
	require.Contains(t, out, "department")
	code, _, stderr = bcast(t, api, "engagement", id, "--breakdown", "team")
	require.Equal(t, cli.ExitUsage, code, stderr)
}
