// Package csvexport is the one CSV writer behind every export a person may
// open in a spreadsheet (usage, audit log, reports, redemption codes). It
// neutralises formula injection: a cell that a spreadsheet would read as a
// formula is written with a leading apostrophe, so `=HYPERLINK(…)` in a
// refund reason or a request id shows as text instead of running.
package csvexport

import (
	"encoding/csv"
	"io"
	"regexp"
)

// Writer writes CSV records with every cell made safe by Cell.
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, neutralising each cell; errors surface from
// Error after Flush, as with encoding/csv.
func (w *Writer) Write(record []string) error {
	w.buf = w.buf[:0]
	for _, c := range record {
		w.buf = append(w.buf, Cell(c))
	}
	return w.w.Write(w.buf)
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error from a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }

// plainNumber is a signed decimal number: spreadsheets read it as a
// number, never a formula, and amounts like -12.5 must stay numbers.
var plainNumber = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?$`)

// Cell returns s, prefixed with an apostrophe when it starts with a
// character spreadsheets treat as the start of a formula (=, +, -, @) or a
// tab or carriage return (OWASP's CSV injection guidance), unless it is a
// plain signed number.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if plainNumber.MatchString(s) {
			return s
		}
		return "'" + s
	}
	return s
}
