package broadcast

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// ReadRecipientsCSV reads a CSV file of recipients, as uploaded with a
// create request: one Entra user object id or user principal name per
// row, in the first column (other columns are ignored); the first row
// may be a header (a first cell that is neither an id nor has an "@").
// Every problem names field and the line: a malformed CSV, an empty first
// cell, a cell that is neither, more than MaxExplicitUsers rows. The ids
// and names are returned as given, for Normalize.
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
		case row == 0 && cell != "" && !strings.Contains(cell, "@"):
			continue // a header
		default:
			if bad < 5 {
				if cell == "" {
					v.add(field, "line %d: the first column is empty: give a user object id or user principal name", line)
				} else {
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
