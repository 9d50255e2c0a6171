package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/botauth"
	"github.com/broadcast-dev/broadcast/internal/convimport"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// Bounds of one import request: a Company Communicator export of about
// 45,000 users (some 700 bytes a row) or 100,000 rows of the simple shape.
// bcast import-conversations sends a larger file in parts.
const (
	MaxImportBytes = 32 << 20
	MaxImportRows  = 100_000
)

// importWriteTimeout bounds the write of a checked import; it goes on if
// the client leaves, so that a checked file is written whole.
const importWriteTimeout = 2 * time.Minute

// ImportResult is the answer of POST /v1/tenants/{tenant}/conversations/import.
type ImportResult struct {
	TenantID string `json:"tenantId"`
	Shape    string `json:"shape"` // simple or companyCommunicator
	DryRun   bool   `json:"dryRun"`
	// Rows counts the file's data rows, Valid the users to import; a dry
	// run stops there (its imported, unchanged and replaced are 0).
	Rows  int `json:"rows"`
	Valid int `json:"valid"`
	store.ImportCounts
	Skipped ImportSkipped `json:"skipped"`
}

// ImportSkipped counts the rows neither imported nor wrong.
type ImportSkipped struct {
	Duplicates     int `json:"duplicates"`     // the same user and conversation again
	NoConversation int `json:"noConversation"` // Company Communicator users it never reached
	OtherPartition int `json:"otherPartition"` // Company Communicator's AuthorData, UsersSyncData
}

// SetServiceHosts sets the allow-list an imported serviceUrl must pass
// (BOT_SERVICE_HOSTS; Microsoft's hosts by default). Call it before serving.
func (s *Server) SetServiceHosts(h botauth.ServiceHosts) { s.hosts = h }

// importConversations caches the conversations of a CSV file
// (internal/convimport): every row is checked first, and only a file
// without a problem is written.
func (s *Server) importConversations(w http.ResponseWriter, r *http.Request) {
	tenant := strings.ToLower(r.PathValue("tenant"))
	if !s.creator.Serves(tenant) {
		writeError(w, http.StatusNotFound, "not_found", "this deployment does not serve tenant "+strconv.Quote(tenant), nil)
		return
	}
	noteTenant(r, tenant)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "text/csv" && mt != "application/csv") {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be text/csv", nil)
			return
		}
	}
	c := &queryCheck{q: r.URL.Query()}
	c.only("dryRun")
	dry := false
	switch v := c.q.Get("dryRun"); v {
	case "", "false":
	case "true":
		dry = true
	default:
		c.bad("dryRun", "must be true or false, got %q", v)
	}
	if err := c.err(); err != nil {
		s.fail(w, err)
		return
	}

	var rows []store.Conversation
	sum, err := convimport.Read(r.Body, convimport.Config{Tenant: tenant, Hosts: s.hosts, MaxRows: MaxImportRows},
		func(row convimport.Row) error {
			// Clones: the row's strings share the record's memory.
			rows = append(rows, store.Conversation{User: strings.Clone(row.User), ID: strings.Clone(row.Conversation)})
			return nil
		})
	var tooBig *http.MaxBytesError
	var ferr *convimport.FileError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the file is over "+strconv.FormatInt(tooBig.Limit, 10)+
			" bytes, the bound of one request: send it in parts (bcast import-conversations does)", nil)
		return
	case errors.As(err, &ferr):
		writeImportError(w, http.StatusBadRequest, "invalid_request", "body: "+ferr.Error()+": nothing was imported",
			[]importProblem{{Field: "body", Problem: ferr.Error(), Line: ferr.Line}}, 1)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", "body: could not be read: "+err.Error(), nil)
		return
	case sum.ProblemCount > 0:
		probs := make([]importProblem, len(sum.Problems))
		for i, p := range sum.Problems {
			probs[i] = importProblem{Field: p.Column, Problem: "line " + strconv.Itoa(p.Line) + ": " + p.Problem, Line: p.Line}
		}
		msg := strconv.Itoa(sum.ProblemCount) + " problems in the file"
		if sum.ProblemCount > len(probs) {
			msg += " (the first " + strconv.Itoa(len(probs)) + " listed)"
		}
		writeImportError(w, http.StatusUnprocessableEntity, "invalid_rows", msg+": nothing was imported", probs, sum.ProblemCount)
		return
	}

	res := ImportResult{TenantID: tenant, Shape: string(sum.Shape), DryRun: dry, Rows: sum.Rows, Valid: sum.Valid,
		Skipped: ImportSkipped{Duplicates: sum.Duplicates, NoConversation: sum.NoConversation, OtherPartition: sum.OtherPartition}}
	if !dry {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), importWriteTimeout)
		defer cancel()
		res.ImportCounts, err = s.store.ImportConversations(ctx, tenant, rows)
		if err != nil {
			s.log.Error("conversation import cut short", zap.String("tenant_id", tenant), zap.Int("rows", len(rows)),
				zap.Int("written", res.Imported+res.Unchanged+res.Replaced), zap.Error(err))
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the conversations were checked, and "+
				strconv.Itoa(res.Imported+res.Unchanged+res.Replaced)+" of "+strconv.Itoa(len(rows))+
				" written before Redis failed: send the same file again (an import is idempotent)", nil)
			return
		}
		s.log.Info("conversations imported", zap.String("tenant_id", tenant), zap.String("shape", res.Shape),
			zap.Int("imported", res.Imported), zap.Int("unchanged", res.Unchanged), zap.Int("replaced", res.Replaced),
			zap.Int("skipped", sum.Skipped()))
	}
	writeJSON(w, http.StatusOK, res)
}

// importProblem is a field of an import's error, as broadcast.FieldError
// with the line: the column (or "body"), the problem, and its line.
type importProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
	Line    int    `json:"line,omitempty"`
}

// writeImportError answers the error body with each problem's line and the
// count of all problems (the list is capped).
func writeImportError(w http.ResponseWriter, status int, code, msg string, probs []importProblem, count int) {
	var b struct {
		Error struct {
			Code         string          `json:"code"`
			Message      string          `json:"message"`
			Fields       []importProblem `json:"fields"`
			ProblemCount int             `json:"problemCount"`
		} `json:"error"`
	}
	b.Error.Code, b.Error.Message, b.Error.Fields, b.Error.ProblemCount = code, msg, probs, count
	writeJSON(w, status, b)
}
