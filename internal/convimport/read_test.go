package convimport_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/convimport"
)

const tenant = "9b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"

var cfg = convimport.Config{Tenant: tenant, Hosts: botauth.DefaultHosts()}

func read(t *testing.T, r io.Reader, c convimport.Config) (*convimport.Summary, []convimport.Row, error) {
	t.Helper()
	var rows []convimport.Row
	s, err := convimport.Read(r, c, func(row convimport.Row) error { rows = append(rows, row); return nil })
	return s, rows, err
}

// Company Communicator's UserData table as Azure Storage Explorer exports
// it (BOM, CRLF, @type columns, quoted names, every partition): the users
// it reached are imported, the rest skipped and counted.
func TestReadCompanyCommunicatorExport(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/cc_userdata.csv")
	require.NoError(t, err)
	defer f.Close()
	s, rows, err := read(t, f, cfg)
	require.NoError(t, err)
	require.Empty(t, s.Problems)
	require.Equal(t, convimport.CompanyCommunicator, s.Shape)
	require.Equal(t, 6, s.Rows)
	require.Equal(t, 3, s.Valid)
	require.Equal(t, 1, s.NoConversation, "the user synced from the directory")
	require.Equal(t, 2, s.OtherPartition, "AuthorData (the author bot's conversation) and UsersSyncData")
	require.Equal(t, []convimport.Row{
		{Line: 2, User: "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", Conversation: "a:1Xk9vQ2bF7hLmN3pR5tW8yZ0cE4gJ6kM9oS2uV5xA8dG1iL4nQ7rT0wY3zB6eH9jK2", ServiceURL: "https://smba.trafficmanager.net/emea/"},
		{Line: 3, User: "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f", Conversation: "19:7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f_5c2f1e3d-7a8b-4c9d-8e1f-2a3b4c5d6e7f@unq.gbl.spaces", ServiceURL: "https://smba.trafficmanager.net/emea/"},
		{Line: 5, User: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", Conversation: "a:1Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7Qw9Er1Ty3Ui5Op7As9Df1Gh3", ServiceURL: "https://smba.trafficmanager.net/emea/"},
	}, rows)

	// The same export checked for another tenant: every imported row is wrong.
	f2, err := os.Open("testdata/cc_userdata.csv")
	require.NoError(t, err)
	defer f2.Close()
	other := cfg
	other.Tenant = "11111111-2222-4333-8444-555555555555"
	s, _, err = read(t, f2, other)
	require.NoError(t, err)
	require.Equal(t, 3, s.ProblemCount)
	require.Equal(t, convimport.Problem{Line: 2, Column: "TenantId", Problem: `the row is for tenant "9b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", the import for 11111111-2222-4333-8444-555555555555`}, s.Problems[0])
}

// The simple shape, its header in any case and order, extra columns
// ignored, a repeated identical row counted once.
func TestReadSimple(t *testing.T) {
	t.Parallel()
	in := "ConversationID, USERID ,note,serviceurl,TenantId\n" +
		"a:1abc,3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B,first,https://smba.trafficmanager.net/teams/,\n" +
		"19:u_b@unq.gbl.spaces,7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f,,https://smba.infra.gcc.teams.microsoft.com/amer/," + tenant + "\n" +
		"\n" +
		"a:1abc,3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b,again,https://smba.trafficmanager.net/teams/,\n"
	s, rows, err := read(t, strings.NewReader(in), cfg)
	require.NoError(t, err)
	require.Empty(t, s.Problems)
	require.Equal(t, convimport.Simple, s.Shape)
	require.Equal(t, 3, s.Rows)
	require.Equal(t, 2, s.Valid)
	require.Equal(t, 1, s.Duplicates)
	require.Equal(t, []convimport.Row{
		{Line: 2, User: "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", Conversation: "a:1abc", ServiceURL: "https://smba.trafficmanager.net/teams/"},
		{Line: 3, User: "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f", Conversation: "19:u_b@unq.gbl.spaces", ServiceURL: "https://smba.infra.gcc.teams.microsoft.com/amer/"},
	}, rows)
}

// Every bad row is reported with its line and column; good rows around
// them are still checked.
func TestReadReportsEveryBadRow(t *testing.T) {
	t.Parallel()
	const u1, u2 = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f"
	const svc = "https://smba.trafficmanager.net/teams/"
	lines := []string{
		"userId,conversationId,serviceUrl,tenantId",
		u1 + ",a:1ok," + svc + ",",                               // 2 good
		"bob,a:1x," + svc + ",",                                  // 3
		u2 + ",," + svc + ",",                                    // 4
		u2 + ",a:1x\x01y," + svc + ",",                           // 5
		u2 + ",a:" + strings.Repeat("x", 1100) + "," + svc + ",", // 6
		u2 + ",19:abc@thread.v2," + svc + ",",                    // 7
		u2 + ",19:abc@thread.tacv2;messageid=1," + svc + ",",     // 8
		u2 + ",29:1abc," + svc + ",",                             // 9
		u2 + ",a:1x,https://evil.example.com/,",                  // 10
		u2 + ",a:1x,http://smba.trafficmanager.net/teams/,",      // 11
		u2 + ",a:1x,,", // 12
		u2 + ",a:1x," + svc + ",11111111-2222-4333-8444-555555555555", // 13
		u1 + ",a:1other," + svc + ",",                                 // 14
		",a:1x," + svc + ",",                                          // 15
		u2 + ",\"a:1 x\"," + svc + ",",                                // 16
		u2 + ",a:1fine," + svc + ",",                                  // 17 good
	}
	s, _, err := read(t, strings.NewReader(strings.Join(lines, "\n")), cfg)
	require.NoError(t, err)
	require.Equal(t, 16, s.Rows)
	require.Equal(t, 2, s.Valid)
	want := []struct {
		line     int
		col, has string
	}{
		{3, "userId", `"bob" is not an Entra user object id`},
		{4, "conversationId", "is empty"},
		{5, "conversationId", "control character"},
		{6, "conversationId", "is 1102 bytes long"},
		{7, "conversationId", "group chat or a channel"},
		{8, "conversationId", "message thread"},
		{9, "conversationId", "not a personal conversation id"},
		{10, "serviceUrl", "not in the allow-list"},
		{11, "serviceUrl", "over http is not in the allow-list"},
		{12, "serviceUrl", "is empty"},
		{13, "tenantId", "the row is for tenant"},
		{14, "conversationId", "user " + u1 + " is on line 2 with another conversation"},
		{15, "userId", "is empty"},
		{16, "conversationId", "a space"},
	}
	require.Equal(t, len(want), s.ProblemCount, "%v", s.Problems)
	for i, w := range want {
		p := s.Problems[i]
		require.Equal(t, w.line, p.Line, "%v", p)
		require.Equal(t, w.col, p.Column, "%v", p)
		require.Contains(t, p.Problem, w.has, "%v", p)
	}
}

// A file that is not a conversation file at all.
func TestReadFileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, has string }{
		{"empty", "", "the file is empty"},
		{"no header", "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b,a:1x,https://smba.trafficmanager.net/teams/\n", "line 1: no header"},
		{"missing column", "userId,conversationId\n", "no serviceUrl column"},
		{"CC without ServiceUrl", "PartitionKey,RowKey,AadId,ConversationId\n", "no ServiceUrl column"},
		{"twice", "userId,conversationId,serviceUrl,UserID\n", `the column "UserID" is named twice`},
		{"bad quoting", "userId,conversationId,serviceUrl\n\"x,y\n", "line 2: not valid CSV"},
		{"long record", "userId,conversationId,serviceUrl\n" + strings.Repeat("x", convimport.MaxRecordBytes+10000) + "\n", "line 2: a record over 65536 bytes"},
		{"long quoted record", "userId,conversationId,serviceUrl\n\"" + strings.Repeat("x\n", convimport.MaxRecordBytes) + "\"\n", "line 2: a record over"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := read(t, strings.NewReader(c.in), cfg)
			var fe *convimport.FileError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Contains(t, fe.Error(), c.has)
		})
	}
	t.Run("too many rows", func(t *testing.T) {
		in := "userId,conversationId,serviceUrl\n" + strings.Repeat("3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b,a:1x,https://smba.trafficmanager.net/teams/\n", 4)
		c := cfg
		c.MaxRows = 3
		_, _, err := read(t, strings.NewReader(in), c)
		require.EqualError(t, err, "line 5: more than 3 rows in one file")
	})
}

// Without an allow-list (a client's first look) the service URL's form
// is checked, not its host.
func TestReadWithoutHosts(t *testing.T) {
	t.Parallel()
	in := "userId,conversationId,serviceUrl\n" +
		"3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b,a:1x,https://anything.example/\n" +
		"7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f,a:1y,ftp://x/\n"
	s, rows, err := read(t, strings.NewReader(in), convimport.Config{Tenant: tenant})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, 1, s.ProblemCount)
	require.Contains(t, s.Problems[0].Problem, "not an absolute http(s) URL")
}

// Only the first MaxProblems problems are listed; all are counted.
func TestReadCapsTheProblemList(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("userId,conversationId,serviceUrl\n")
	for range 250 {
		b.WriteString("nobody,a:1x,https://smba.trafficmanager.net/teams/\n")
	}
	s, _, err := read(t, strings.NewReader(b.String()), cfg)
	require.NoError(t, err)
	require.Equal(t, 250, s.ProblemCount)
	require.Len(t, s.Problems, convimport.MaxProblems)
}

// genFile streams n simple rows without holding them.
type genFile struct {
	n, i int
	buf  []byte
}

func (g *genFile) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, "userId,conversationId,serviceUrl\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "%08x-0000-4000-8000-%012x,a:1%064x,https://smba.trafficmanager.net/teams/\n", g.i, g.i, g.i)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// A large file streams: the live heap grows with the duplicate check
// (bytes per distinct user), not with the rows.
func TestReadStreamsLargeFiles(t *testing.T) {
	const n = 200_000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	rows := 0
	s, err := convimport.Read(&genFile{n: n}, cfg, func(convimport.Row) error {
		rows++
		if rows%50_000 == 0 {
			runtime.GC() // the live heap: what the read keeps
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, n, s.Valid)
	grown := int64(peak) - int64(before.HeapAlloc)
	perUser := grown / n
	t.Logf("file %d MB, heap grew %d KB: %d bytes a user", n*144>>20, grown>>10, perUser)
	require.Less(t, perUser, int64(120), "the heap holds the duplicate check, not the rows (a row is 144 bytes)")
}
