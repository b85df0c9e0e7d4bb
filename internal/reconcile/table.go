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

// maxFileSize bounds an uploaded statement or bill; real daily files are far
// smaller.
const maxFileSize = 32 << 20

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
func readTable(r io.Reader, filename string) ([][]row, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reconcile: read %s: %w", filename, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d MB", ErrUnsupportedFormat, filename, maxFileSize>>20)
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(data)
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
	rows, err := readCSV(text)
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

// readCSV splits text on commas or tabs, whichever the first lines use more.
func readCSV(text string) ([]row, error) {
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
// whatever display format the bank chose.
func readXLSX(data []byte) ([][]row, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable XLSX workbook: %w", ErrUnsupportedFormat, err)
	}
	defer f.Close()
	var sheets [][]row
	for _, name := range f.GetSheetList() {
		recs, err := f.GetRows(name, excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fmt.Errorf("%w: sheet %q: %w", ErrUnsupportedFormat, name, err)
		}
		rows := make([]row, 0, len(recs))
		for i, rec := range recs {
			cells := make([]string, len(rec))
			for j, c := range rec {
				cells[j] = cleanCell(c)
			}
			rows = append(rows, row{num: i + 1, cells: cells})
		}
		sheets = append(sheets, rows)
	}
	return sheets, nil
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
