// Package csvsafe writes CSV files meant to be opened in a spreadsheet, so
// that no cell a user controls (a display name, a UPN) is run as a formula.
//
// Excel, LibreOffice and Google Sheets read a cell that starts with '=',
// '+', '-' or '@' as a formula, and a leading tab or carriage return can
// hide such a start: "=HYPERLINK(...)" in a display name becomes a link,
// "@SUM(...)" a computation, "=cmd|..." a DDE call. As OWASP's "CSV
// Injection" page advises, such a cell is written with a single quote in
// front, which makes the spreadsheet show it as text; every other cell is
// written as it is, and RFC 4180 quoting (encoding/csv) keeps a separator
// or a quote inside a cell from starting a new one.
//
// The quote is part of the cell for a program that reads the file. The
// cells that get one are names and text: ids, states, counts and times
// never start with those characters.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Writer writes CSV records (RFC 4180, CRLF line ends) with every cell
// neutralised. Like csv.Writer it buffers: call Flush, then Error.
type Writer struct {
	w       *csv.Writer
	scratch []string
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &Writer{w: cw}
}

// Write writes one record, its cells neutralised; record is not changed.
func (w *Writer) Write(record []string) error {
	w.scratch = w.scratch[:0]
	for _, cell := range record {
		w.scratch = append(w.scratch, Neutralise(cell))
	}
	return w.w.Write(w.scratch)
}

// Flush writes any buffered data to the underlying io.Writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports an error from a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }

// Neutralise returns cell as a spreadsheet shows it as text: with a single
// quote in front when it starts with '=', '+', '-', '@', a tab or a
// carriage return, as it is otherwise.
func Neutralise(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}
