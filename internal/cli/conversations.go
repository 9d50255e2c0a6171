package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/convimport"
)

// importChunkRows is how many rows one import request carries: at most
// 3 KB a row, a request stays under the API's 32 MiB.
const importChunkRows = 10_000

// maxServiceURLSamples bounds the rows sent for the server's check of the
// service URLs before the write (one per distinct URL).
const maxServiceURLSamples = 1000

// stdin is what "-" reads (tests replace it).
var stdin io.Reader = os.Stdin

// importResult is the API's answer to an import: the fields the CLI reads.
type importResult struct {
	Shape     string `json:"shape"`
	Valid     int    `json:"valid"`
	Imported  int    `json:"imported"`
	Unchanged int    `json:"unchanged"`
	Replaced  int    `json:"replaced"`
}

func (a *app) importConversationsCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import-conversations FILE",
		Short: "Cache the users' known conversations with the bot (from Company Communicator, say)",
		Long: `Cache the conversations the bot already has with the tenant's users, so that
the first broadcast to them needs no install and no lookup. FILE ("-" for
standard input) is a CSV with the header userId,conversationId,serviceUrl
(names in any case; optionally tenantId; other columns ignored), or
Company Communicator's UserData table exported as CSV by Azure Storage
Explorer (AadId is the user; its other partitions and the users it never
reached are skipped). The bot must be the same registration (BOT_APP_ID) as
the one the conversations were made with.

Every row is checked first, here and then by the API (the service URL's
host against BOT_SERVICE_HOSTS); a problem in any row is reported with its
line and column and nothing is written. Then the rows are sent 10,000 to a
request. If a request fails midway, the rows before it are written: run the
same command again, an import is idempotent.`,
		Example: `  bcast import-conversations --tenant 9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90 UserData.csv
  bcast import-conversations --dry-run conversations.csv
  bcast import-conversations --tenant 9b2c3d4e-5f60-4718-293a-4b5c6d7e8f90 - < conversations.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant := strings.ToLower(strings.TrimSpace(a.tenant))
			if !broadcast.IsGUID(tenant) {
				return usageError("--tenant (or BCAST_TENANT): the tenant id (a GUID) is required for an import, got %q", a.tenant)
			}
			f, name, done, err := openImport(args[0])
			if err != nil {
				return err
			}
			defer done()
			return a.importConversations(cmd.Context(), tenant, f, name, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the file (here and by the API), write nothing")
	return cmd
}

// openImport opens FILE; "-" copies standard input to a temporary file,
// read twice (checked, then sent) like a file.
func openImport(path string) (f *os.File, name string, done func(), err error) {
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", nil, usageError("%v", err)
		}
		return f, path, func() { _ = f.Close() }, nil
	}
	f, err = os.CreateTemp("", "bcast-import-*.csv")
	if err != nil {
		return nil, "", nil, fmt.Errorf("standard input: %w", err)
	}
	done = func() { _ = f.Close(); _ = os.Remove(f.Name()) }
	if _, err := io.Copy(f, stdin); err != nil {
		done()
		return nil, "", nil, fmt.Errorf("standard input: %w", err)
	}
	return f, "standard input", done, nil
}

func (a *app) importConversations(ctx context.Context, tenant string, f *os.File, name string, dryRun bool) error {
	// Pass 1: every row, here; one row per distinct service URL kept for
	// the API's check of the hosts.
	samples := map[string]convimport.Row{}
	sum, err := readImport(f, tenant, func(r convimport.Row) error {
		if _, ok := samples[r.ServiceURL]; !ok && len(samples) < maxServiceURLSamples {
			samples[r.ServiceURL] = r
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if sum.ProblemCount > 0 {
		return a.importProblems(name, sum)
	}
	if sum.Valid > 0 {
		rows := make([]convimport.Row, 0, len(samples))
		for _, r := range samples {
			rows = append(rows, r)
		}
		slices.SortFunc(rows, func(x, y convimport.Row) int { return x.Line - y.Line })
		if _, err := a.sendImport(ctx, tenant, rows, true); err != nil {
			return fmt.Errorf("%s: the API refused the file: %w\nnothing was imported", name, err)
		}
	}
	if dryRun || sum.Valid == 0 {
		a.printf("%s: %d rows checked (%s), %d conversations to import; nothing written\n", name, sum.Rows, sum.Shape, sum.Valid)
		a.printSkipped(sum)
		return nil
	}

	// Pass 2: the same rows, sent importChunkRows at a time.
	var total importResult
	written := 0
	chunk := make([]convimport.Row, 0, importChunkRows)
	send := func() error {
		if len(chunk) == 0 {
			return nil
		}
		res, err := a.sendImport(ctx, tenant, chunk, false)
		if err != nil {
			return err
		}
		total.Imported += res.Imported
		total.Unchanged += res.Unchanged
		total.Replaced += res.Replaced
		written += len(chunk)
		chunk = chunk[:0]
		if written < sum.Valid {
			fmt.Fprintf(a.errOut, "%d of %d written\n", written, sum.Valid)
		}
		return nil
	}
	again, err := readImport(f, tenant, func(r convimport.Row) error {
		chunk = append(chunk, r)
		if len(chunk) == importChunkRows {
			return send()
		}
		return nil
	})
	if err == nil && again.ProblemCount > 0 {
		err = errors.New("the file changed since it was checked")
	}
	if err == nil {
		err = send()
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%d of %d conversations were written before this: run the same command again (an import is idempotent)",
			name, err, written, sum.Valid)
	}
	a.printf("%s: %d rows (%s), %d conversations imported for tenant %s\n", name, sum.Rows, sum.Shape, sum.Valid, tenant)
	a.printf("  new        %d\n  unchanged  %d\n  replaced   %d\n", total.Imported, total.Unchanged, total.Replaced)
	a.printSkipped(sum)
	return nil
}

func readImport(f *os.File, tenant string, each func(convimport.Row) error) (*convimport.Summary, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return convimport.Read(f, convimport.Config{Tenant: tenant}, each)
}

func (a *app) printSkipped(sum *convimport.Summary) {
	if sum.Skipped() == 0 {
		return
	}
	a.printf("  skipped    %d (%d repeated rows, %d users without a conversation, %d rows of other partitions)\n",
		sum.Skipped(), sum.Duplicates, sum.NoConversation, sum.OtherPartition)
}

// importProblems prints the file's problems and fails.
func (a *app) importProblems(name string, sum *convimport.Summary) error {
	for _, p := range sum.Problems {
		fmt.Fprintf(a.errOut, "%s: %s\n", name, p)
	}
	if more := sum.ProblemCount - len(sum.Problems); more > 0 {
		fmt.Fprintf(a.errOut, "%s: and %d more problems\n", name, more)
	}
	return fmt.Errorf("%s: %d problems: nothing was imported", name, sum.ProblemCount)
}

// sendImport posts rows in the simple shape. An answer naming lines of
// the request is told in the file's lines.
func (a *app) sendImport(ctx context.Context, tenant string, rows []convimport.Row, dry bool) (*importResult, error) {
	var buf bytes.Buffer
	// Plain CSV, not csvsafe's: a request body the API parses, never a
	// spreadsheet, whose checked ids and URLs must arrive as they are.
	w := csv.NewWriter(&buf)
	_ = w.Write(convimport.SimpleHeader)
	for _, r := range rows {
		_ = w.Write(r.Record())
	}
	w.Flush()
	q := url.Values{}
	if dry {
		q.Set("dryRun", "true")
	}
	var res importResult
	_, err := a.client.do(ctx, request{method: http.MethodPost, path: "/v1/tenants/" + url.PathEscape(tenant) + "/conversations/import",
		query: q, body: &buf, contentType: "text/csv"}, &res)
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		for i, f := range apiErr.Fields {
			apiErr.Fields[i].Problem = fileLine(f.Problem, rows)
		}
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// fileLine rewrites a problem's "line N: " (N a line of the request: its
// header is line 1) as the row's line in the file.
func fileLine(problem string, rows []convimport.Row) string {
	rest, ok := strings.CutPrefix(problem, "line ")
	if !ok {
		return problem
	}
	num, rest, ok := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 2 || n-2 >= len(rows) {
		return problem
	}
	return "line " + strconv.Itoa(rows[n-2].Line) + ": " + rest
}
