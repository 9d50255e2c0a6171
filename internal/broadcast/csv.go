package broadcast

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode"
)

// RecipientHeaders are the names a recipients file's header row may give
// its first column, in any case, with or without spaces, '_' and '-'
// ("User Principal Name", "user_id"). The first row is a header only when
// its first cell is one of them: any other first row is a recipient, so
// that a mistyped first recipient is refused like any other row, never
// dropped as a header.
var RecipientHeaders = []string{"userId", "id", "objectId", "aadId", "userPrincipalName", "upn", "email", "mail", "user"}

var recipientHeader = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range RecipientHeaders {
		m[headerKey(h)] = true
	}
	return m
}()

// headerKey is a header cell as RecipientHeaders match it.
func headerKey(cell string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return unicode.ToLower(r)
	}, cell)
}

// ReadRecipientsCSV reads a CSV file of recipients, as uploaded with a
// create request: one Entra user object id or user principal name per
// row, in the first column (other columns are ignored); the first row is
// a header when its first cell is one of RecipientHeaders. Every problem
// names field and the line: a malformed CSV, an empty first cell, a cell
// that is neither (nor, on the first line, a header), more than
// MaxExplicitUsers rows. The ids and names are returned as given, for
// Normalize.
func ReadRecipientsCSV(r io.Reader, field string) (ids, upns []string, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	v := &ValidationError{}
	bad := 0
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			v.add(field, "line %d: not valid CSV: %s", perr.StartLine, perr.Err)
			return nil, nil, v
		}
		if err != nil {
			return nil, nil, err // the upload could not be read: not the file's fault
		}
		line, _ := cr.FieldPos(0)
		cell := strings.TrimSpace(rec[0])
		if row == 0 {
			cell = strings.TrimPrefix(cell, "\ufeff")
		}
		switch {
		case IsGUID(cell):
			ids = append(ids, cell)
		case IsUPN(cell):
			upns = append(upns, cell)
		case row == 0 && recipientHeader[headerKey(cell)]:
			continue
		default:
			if bad < 5 {
				switch {
				case cell == "":
					v.add(field, "line %d: the first column is empty: give a user object id or user principal name", line)
				case row == 0:
					v.add(field, "line %d: %q is neither a user object id (a GUID), a user principal name, nor a header naming the column (%s)",
						line, clip(cell), strings.Join(RecipientHeaders, ", "))
				default:
					v.add(field, "line %d: %q is neither a user object id (a GUID) nor a user principal name", line, clip(cell))
				}
			}
			bad++
			continue
		}
		if len(ids)+len(upns) > MaxExplicitUsers {
			v.add(field, "line %d: more than %d recipients in one file", line, MaxExplicitUsers)
			return nil, nil, v
		}
	}
	if bad > 5 {
		v.add(field, "%d more lines are neither ids nor user principal names", bad-5)
	}
	if err := v.orNil(); err != nil {
		return nil, nil, err
	}
	if len(ids)+len(upns) == 0 {
		return nil, nil, Invalid(field, "no recipients: the file has no rows besides a header")
	}
	return ids, upns, nil
}
