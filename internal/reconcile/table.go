package reconcile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/width"
)

// Limits bound what one uploaded statement or bill may cost to read, so a
// small crafted file (an XLSX whose shared strings or rows unzip to
// hundreds of megabytes) is refused early instead of taking the server's
// memory and CPU. Real daily files are far below every default.
type Limits struct {
	// MaxFileBytes bounds the file as uploaded (default 8 MB, the request
	// body limit).
	MaxFileBytes int64
	// MaxUnzippedBytes bounds the total decompressed size of an XLSX
	// workbook (excelize's UnzipSizeLimit; default 16 MB, about 40,000
	// rows of a typical bank statement).
	MaxUnzippedBytes int64
	// MaxRows bounds the rows read from a CSV file or from all sheets of a
	// workbook together, blank rows included (default 20,000).
	MaxRows int
}

// DefaultLimits are the limits when nothing is configured.
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 8 << 20, MaxUnzippedBytes: 16 << 20, MaxRows: 20_000}
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxUnzippedBytes <= 0 {
		l.MaxUnzippedBytes = d.MaxUnzippedBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = d.MaxRows
	}
	return l
}

// row is one row of a spreadsheet or CSV file with its 1-based row number in
// the file, so errors can point finance at the right line.
type row struct {
	num   int
	cells []string
}

// cell returns the cleaned cell i, or "" when the row is shorter.
func (r row) cell(i int) string {
	if i < 0 || i >= len(r.cells) {
		return ""
	}
	return r.cells[i]
}

func (r row) empty() bool {
	for _, c := range r.cells {
		if c != "" {
			return false
		}
	}
	return true
}

// readTable reads a CSV/TSV (UTF-8 with or without BOM, UTF-16 with BOM,
// GBK/GB18030) or an XLSX file into rows of cleaned cells. For an XLSX file it
// returns one table per sheet, in order.
// Errors: ErrUnsupportedFormat, and *TooLargeError (ErrFileTooLarge) when
// the file passes one of lim's bounds.
func readTable(r io.Reader, filename string, lim Limits) ([][]row, error) {
	lim = lim.orDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reconcile: read %s: %w", filename, err)
	}
	if int64(len(data)) > lim.MaxFileBytes {
		return nil, &TooLargeError{Limit: LimitFileBytes, Max: lim.MaxFileBytes}
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(data, lim)
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return nil, fmt.Errorf("%w: %s is an Excel 97-2003 (.xls) workbook: save it as .xlsx or .csv", ErrUnsupportedFormat, filename)
	}
	ext := strings.ToLower(filepath.Ext(filename))
	if ext == ".xlsx" || ext == ".xlsm" {
		return nil, fmt.Errorf("%w: %s is not a valid XLSX workbook", ErrUnsupportedFormat, filename)
	}
	text, err := decodeText(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupportedFormat, filename, err)
	}
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "<") {
		return nil, fmt.Errorf("%w: %s is an HTML or XML page, not a CSV file", ErrUnsupportedFormat, filename)
	}
	rows, err := readCSV(text, lim.MaxRows)
	var tooLarge *TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupportedFormat, filename, err)
	}
	return [][]row{rows}, nil
}

// decodeText turns the file into UTF-8. Chinese banks export GBK (or its
// superset GB18030) as often as UTF-8; a file that is not valid UTF-8 is read
// as GB18030, which decodes every GBK file too.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		out, err := dec.Bytes(data)
		if err != nil {
			return "", fmt.Errorf("not valid UTF-16: %w", err)
		}
		return string(out), nil
	}
	if utf8.Valid(data) {
		return string(data), nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil {
		return "", fmt.Errorf("neither UTF-8 nor GBK text: %w", err)
	}
	return string(out), nil
}

// readCSV splits text on commas or tabs, whichever the first lines use more,
// refusing more than maxRows records.
func readCSV(text string, maxRows int) ([]row, error) {
	head := text
	if len(head) > 4096 {
		head = head[:4096]
	}
	cr := csv.NewReader(strings.NewReader(text))
	if strings.Count(head, "\t") > strings.Count(head, ",") {
		cr.Comma = '\t'
	}
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rows) == maxRows {
			return nil, &TooLargeError{Limit: LimitRows, Max: int64(maxRows)}
		}
		line, _ := cr.FieldPos(0)
		cells := make([]string, len(rec))
		for i, c := range rec {
			cells[i] = cleanCell(c)
		}
		rows = append(rows, row{num: line, cells: cells})
	}
}

// readXLSX returns every sheet's rows with raw cell values: dates come as
// Excel serial numbers, which parseDateTime understands, rather than in
// whatever display format the bank chose. Rows are streamed, so reading
// stops at the row limit instead of after the whole sheet is in memory.
func readXLSX(data []byte, lim Limits) ([][]row, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    lim.MaxUnzippedBytes,
		UnzipXMLSizeLimit: min(lim.MaxUnzippedBytes, 16<<20),
	})
	if err != nil {
		// excelize reports the unzip limit only as text (newUnzipSizeLimitError).
		if strings.Contains(err.Error(), "unzip size exceeds") {
			return nil, &TooLargeError{Limit: LimitUnzippedBytes, Max: lim.MaxUnzippedBytes}
		}
		return nil, fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrUnsupportedFormat, err)
	}
	defer f.Close()
	var sheets [][]row
	total := 0
	for _, name := range f.GetSheetList() {
		rows, err := readSheet(f, name, lim.MaxRows-total, lim.MaxRows)
		if err != nil {
			return nil, err
		}
		total += len(rows)
		sheets = append(sheets, rows)
	}
	return sheets, nil
}

// readSheet streams one sheet's rows, refusing more than remaining (of the
// workbook's limit); trailing blank rows are dropped as excelize's GetRows
// does.
func readSheet(f *excelize.File, name string, remaining, limit int) ([]row, error) {
	it, err := f.Rows(name)
	if err != nil {
		return nil, fmt.Errorf("%w: sheet %q: %w", ErrUnsupportedFormat, name, err)
	}
	defer it.Close()
	var rows []row
	lastFilled := 0
	for n := 1; it.Next(); n++ {
		if n > remaining {
			return nil, &TooLargeError{Limit: LimitRows, Max: int64(limit)}
		}
		rec, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fmt.Errorf("%w: sheet %q: %w", ErrUnsupportedFormat, name, err)
		}
		cells := make([]string, len(rec))
		for j, c := range rec {
			cells[j] = cleanCell(c)
		}
		r := row{num: n, cells: cells}
		if !r.empty() {
			lastFilled = n
		}
		rows = append(rows, r)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("%w: sheet %q: %w", ErrUnsupportedFormat, name, err)
	}
	return rows[:lastFilled], nil
}

// cleanCell undoes what exporters do to keep spreadsheets from mangling
// numbers: a leading backtick (WeChat Pay bills), apostrophe or tab, the
// ="…" formula wrapper, and surrounding (also full-width) spaces.
func cleanCell(s string) string {
	s = strings.TrimSpace(strings.Trim(s, "\u3000\u00a0\t\r\n "))
	if strings.HasPrefix(s, `="`) && strings.HasSuffix(s, `"`) && len(s) >= 3 {
		s = s[2 : len(s)-1]
	}
	s = strings.TrimLeft(s, "`'\t")
	return strings.TrimSpace(strings.Trim(s, "\u3000\u00a0"))
}

// fold turns full-width letters, digits and punctuation into half-width ones.
func fold(s string) string { return width.Fold.String(s) }
