package convimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// Limits of one file.
const (
	// MaxRecordBytes bounds one CSV record: a Company Communicator row is
	// under 1 KB, so a longer one is not a conversation file (and the
	// bound keeps a reader's memory flat whatever it is given).
	MaxRecordBytes = 64 << 10
	// MaxConversationBytes bounds a conversation id, as the bot endpoint does.
	MaxConversationBytes = 1024
	// MaxServiceURLBytes bounds a service URL.
	MaxServiceURLBytes = 2048
	// MaxProblems is how many problems a Summary lists (it counts them all).
	MaxProblems = 100
)

// Shape is the kind of CSV a file is.
type Shape string

const (
	// Simple is userId,conversationId,serviceUrl[,tenantId].
	Simple Shape = "simple"
	// CompanyCommunicator is Company Communicator's UserData table as Azure
	// Storage Explorer exports it.
	CompanyCommunicator Shape = "companyCommunicator"
)

// PartitionUserData is the partition of Company Communicator's UserData
// table that holds users; its other partitions are skipped.
const PartitionUserData = "UserData"

// SimpleHeader is the header of the simple shape.
var SimpleHeader = []string{"userId", "conversationId", "serviceUrl"}

// Config is what a file is checked against.
type Config struct {
	// Tenant is the tenant the import is for (lower case): a row naming
	// another is an error.
	Tenant string
	// Hosts is the allow-list a serviceUrl must pass (BOT_SERVICE_HOSTS).
	// Empty: only its form is checked, for a client that does not know the
	// server's list (the server checks it again).
	Hosts botauth.ServiceHosts
	// MaxRows, if positive, bounds the data rows of one file.
	MaxRows int
}

// Row is one conversation to import.
type Row struct {
	Line                           int // where the row starts in the file
	User, Conversation, ServiceURL string
}

// Record is the row in the simple shape's columns.
func (r Row) Record() []string { return []string{r.User, r.Conversation, r.ServiceURL} }

// Problem is what is wrong with one cell of one row.
type Problem struct {
	Line    int
	Column  string // as the header names it
	Problem string
}

func (p Problem) String() string { return fmt.Sprintf("line %d, %s: %s", p.Line, p.Column, p.Problem) }

// Summary is what Read found.
type Summary struct {
	Shape Shape
	// Rows counts the data rows; Valid the distinct users to import.
	Rows, Valid int
	// Duplicates counts rows repeating an earlier row's user and
	// conversation; NoConversation the Company Communicator rows without
	// one; OtherPartition its rows outside the UserData partition.
	Duplicates, NoConversation, OtherPartition int
	// Problems lists the first MaxProblems problems; ProblemCount counts
	// them all. Any problem means nothing may be imported.
	Problems     []Problem
	ProblemCount int
}

// Skipped is the rows that are neither imported nor wrong.
func (s *Summary) Skipped() int { return s.Duplicates + s.NoConversation + s.OtherPartition }

// FileError is a file that cannot be read as a conversation file at all:
// not CSV, no header or a column missing, a record too long, too many rows.
type FileError struct {
	Line    int // 0 when no line is at fault
	Problem string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Problem)
	}
	return e.Problem
}

var errRecordTooLong = errors.New("record too long")

// boundedReader fails once the record being read is over its limit: the
// bytes handed to the CSV reader beyond the end of the last record it
// returned (plus its read-ahead buffer).
type boundedReader struct {
	r     io.Reader
	n     int64  // bytes handed out
	mark  *int64 // offset of the end of the last record returned
	limit int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n-*b.mark > b.limit {
		return 0, errRecordTooLong
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// column is one column the reader uses: its index (-1 when absent) and
// its name as the header spells it.
type column struct {
	idx  int
	name string
}

func (c column) get(rec []string) string {
	if c.idx < 0 || c.idx >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[c.idx])
}

type layout struct {
	shape                                  Shape
	user, conv, url, tenant, partition, rk column
}

// Read reads a conversation file, checks every row against cfg and calls
// each with every valid row as it goes. Rows with problems are listed in
// the summary (err nil); a file that cannot be read at all is a
// *FileError; each's error ends the read and is returned as it is.
// Rows given to each before a problem was found are not taken back:
// the caller writes nothing unless the summary has no problem.
func Read(r io.Reader, cfg Config, each func(Row) error) (*Summary, error) {
	var mark int64
	cr := csv.NewReader(&boundedReader{r: r, mark: &mark, limit: MaxRecordBytes + 4096}) // + csv's read-ahead
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	lastLine := 0
	read := func() ([]string, error) {
		rec, err := cr.Read()
		var perr *csv.ParseError
		switch {
		case err == nil:
			mark = cr.InputOffset()
			lastLine, _ = cr.FieldPos(0)
			return rec, nil
		case errors.Is(err, io.EOF):
			return nil, err
		case errors.Is(err, errRecordTooLong):
			return nil, &FileError{Line: lastLine + 1, Problem: fmt.Sprintf("a record over %d bytes: not a conversation file", MaxRecordBytes)}
		case errors.As(err, &perr):
			return nil, &FileError{Line: perr.StartLine, Problem: "not valid CSV: " + perr.Err.Error()}
		}
		return nil, err
	}

	hdr, err := read()
	if errors.Is(err, io.EOF) {
		return nil, &FileError{Problem: "the file is empty: its first line must name the columns, e.g. " + strings.Join(SimpleHeader, ",")}
	}
	if err != nil {
		return nil, err
	}
	lay, err := readHeader(hdr)
	if err != nil {
		return nil, err
	}
	s := &Summary{Shape: lay.shape}
	problem := func(line int, c column, format string, args ...any) {
		s.ProblemCount++
		if len(s.Problems) < MaxProblems {
			s.Problems = append(s.Problems, Problem{Line: line, Column: c.name, Problem: fmt.Sprintf(format, args...)})
		}
	}
	type seenRow struct {
		conv uint64
		line uint32
	}
	seen := map[uuid.UUID]seenRow{}
	seed := maphash.MakeSeed()
	for {
		rec, err := read()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		line := lastLine
		s.Rows++
		if cfg.MaxRows > 0 && s.Rows > cfg.MaxRows {
			return nil, &FileError{Line: line, Problem: fmt.Sprintf("more than %d rows in one file", cfg.MaxRows)}
		}
		if lay.partition.idx >= 0 && !strings.EqualFold(lay.partition.get(rec), PartitionUserData) {
			s.OtherPartition++
			continue
		}
		conv := lay.conv.get(rec)
		if lay.shape == CompanyCommunicator && conv == "" {
			s.NoConversation++ // synced from the directory, never reached
			continue
		}
		before := s.ProblemCount
		user := strings.ToLower(lay.user.get(rec))
		if lay.rk.idx >= 0 {
			rk := strings.ToLower(lay.rk.get(rec))
			switch {
			case user == "":
				user = rk
			case rk != "" && rk != user:
				problem(line, lay.user, "%q is not the row's RowKey %q: Company Communicator keeps them equal", clip(user), clip(rk))
			}
		}
		switch {
		case user == "":
			problem(line, lay.user, "is empty: give the user's Entra object id")
		case !broadcast.IsGUID(user):
			problem(line, lay.user, "%q is not an Entra user object id (a GUID)", clip(user))
		}
		if msg := checkConversation(conv); msg != "" {
			problem(line, lay.conv, "%s", msg)
		}
		svc := lay.url.get(rec)
		if msg := checkServiceURL(svc, cfg.Hosts); msg != "" {
			problem(line, lay.url, "%s", msg)
		}
		if t := lay.tenant.get(rec); t != "" && !strings.EqualFold(t, cfg.Tenant) {
			problem(line, lay.tenant, "the row is for tenant %q, the import for %s", clip(t), cfg.Tenant)
		}
		if s.ProblemCount > before {
			continue
		}
		id := uuid.MustParse(user) // a GUID: checked above
		h := maphash.String(seed, conv)
		if prev, ok := seen[id]; ok {
			if prev.conv == h {
				s.Duplicates++
			} else {
				problem(line, lay.conv, "user %s is on line %d with another conversation", user, prev.line)
			}
			continue
		}
		seen[id] = seenRow{conv: h, line: uint32(line)}
		s.Valid++
		if err := each(Row{Line: line, User: user, Conversation: conv, ServiceURL: svc}); err != nil {
			return nil, err
		}
	}
}

// readHeader finds the columns: the Company Communicator shape when there
// is an AadId column, the simple one otherwise.
func readHeader(hdr []string) (layout, error) {
	cols := map[string]column{}
	for i, h := range hdr {
		name := strings.TrimSpace(h)
		if i == 0 {
			name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		}
		key := strings.ToLower(name)
		if key == "" || strings.HasSuffix(key, "@type") { // Storage Explorer's type of the column before
			continue
		}
		if _, dup := cols[key]; dup {
			return layout{}, &FileError{Line: 1, Problem: fmt.Sprintf("the column %q is named twice", clip(name))}
		}
		cols[key] = column{idx: i, name: name}
	}
	col := func(key, name string) column {
		if c, ok := cols[key]; ok {
			return c
		}
		return column{idx: -1, name: name}
	}
	missing := func(need ...column) error {
		var names []string
		for _, c := range need {
			if c.idx < 0 {
				names = append(names, c.name)
			}
		}
		if len(names) == 0 {
			return nil
		}
		return &FileError{Line: 1, Problem: fmt.Sprintf("the header has no %s column: want %s (names in any case), or Company Communicator's UserData table exported as CSV",
			strings.Join(names, " or "), strings.Join(SimpleHeader, ","))}
	}
	if _, ok := cols["aadid"]; ok {
		l := layout{shape: CompanyCommunicator, user: col("aadid", "AadId"), conv: col("conversationid", "ConversationId"),
			url: col("serviceurl", "ServiceUrl"), tenant: col("tenantid", "TenantId"),
			partition: col("partitionkey", "PartitionKey"), rk: col("rowkey", "RowKey")}
		return l, missing(l.conv, l.url)
	}
	if len(hdr) > 0 && broadcast.IsGUID(strings.TrimSpace(strings.TrimPrefix(hdr[0], "\ufeff"))) {
		return layout{}, &FileError{Line: 1, Problem: "no header: the first line must name the columns, e.g. " + strings.Join(SimpleHeader, ",")}
	}
	l := layout{shape: Simple, user: col("userid", "userId"), conv: col("conversationid", "conversationId"),
		url: col("serviceurl", "serviceUrl"), tenant: col("tenantid", "tenantId"),
		partition: column{idx: -1}, rk: column{idx: -1}}
	return l, missing(l.user, l.conv, l.url)
}

// checkConversation says what is wrong with a conversation id ("" when
// nothing): Teams' 1:1 conversations with a bot are "a:..." (the
// Connector's id) or "19:...@unq.gbl.spaces" (Graph's chat id). A group
// chat's or channel's id, or a thread's (";messageid="), would post a
// broadcast where others read it.
func checkConversation(c string) string {
	switch {
	case c == "":
		return "is empty: give the user's 1:1 conversation id with the bot"
	case len(c) > MaxConversationBytes:
		return fmt.Sprintf("is %d bytes long: a conversation id has at most %d", len(c), MaxConversationBytes)
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; b <= ' ' || b > '~' {
			return fmt.Sprintf("%q has a control character, a space or a non-ASCII byte (at byte %d)", clip(c), i+1)
		}
	}
	switch {
	case strings.Contains(c, ";"):
		return fmt.Sprintf("%q names a message thread (;messageid=...), not a 1:1 conversation", clip(c))
	case strings.HasPrefix(c, "a:") && len(c) > len("a:"):
		return ""
	case strings.HasPrefix(c, "19:") && strings.HasSuffix(c, "@unq.gbl.spaces") && len(c) > len("19:@unq.gbl.spaces"):
		return ""
	case strings.HasPrefix(c, "19:") && strings.Contains(c, "@thread."):
		return fmt.Sprintf("%q is a group chat or a channel, not a 1:1 conversation with the bot", clip(c))
	}
	return fmt.Sprintf("%q is not a personal conversation id: want a:... or 19:...@unq.gbl.spaces", clip(c))
}

// checkServiceURL says what is wrong with a service URL ("" when
// nothing): against the allow-list when there is one, else its form.
func checkServiceURL(v string, hosts botauth.ServiceHosts) string {
	switch {
	case v == "":
		return "is empty: give the Bot Connector URL Teams gave with the conversation"
	case len(v) > MaxServiceURLBytes:
		return fmt.Sprintf("is %d bytes long: at most %d", len(v), MaxServiceURLBytes)
	}
	if !hosts.Empty() {
		if err := hosts.Check(v); err != nil {
			return err.Error() + " (BOT_SERVICE_HOSTS)"
		}
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Sprintf("%q is not an absolute http(s) URL", clip(v))
	}
	return ""
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
