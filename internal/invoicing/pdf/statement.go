package pdf

import (
	"fmt"

	"github.com/signintech/gopdf"
)

// Report is a plain tabular document of one or more A4 pages: a title,
// label/value header lines, then tables that continue onto new pages as
// they grow (the monthly statement, internal/statement, is one). Text is
// drawn with the embedded CJK font.
type Report struct {
	Title  string
	Header [][2]string
	Tables []Table
	Footer string
}

// Table is a heading and rows under column titles. Widths are the columns'
// shares of the page width (equal when nil); columns after the first are
// right-aligned (figures).
type Table struct {
	Heading string
	Columns []string
	Widths  []float64
	Rows    [][]string
}

// RenderReport returns the report as an A4 portrait PDF. It returns errors
// wrapping ErrInvalid or ErrGlyphMissing.
func RenderReport(r Report) ([]byte, error) {
	b, _, err := renderReport(r)
	return b, err
}

func renderReport(r Report) ([]byte, map[rune]bool, error) {
	if r.Title == "" {
		return nil, nil, fmt.Errorf("%w: a report needs a title", ErrInvalid)
	}
	const x, w, top, bottom, rowH = 40.0, 515.0, 40.0, 800.0, 18.0
	return renderPage(*gopdf.PageSizeA4, r.Title, func(d *doc) error {
		y := top
		// room makes sure h more points fit on the page, starting a new one if not.
		room := func(h float64) {
			if y+h > bottom {
				d.gp.AddPage()
				y = top
			}
		}
		if err := d.setSize(18); err != nil {
			return err
		}
		if err := d.text(x, y, w, 28, r.Title, gopdf.Center); err != nil {
			return err
		}
		y += 34
		if err := d.setSize(10); err != nil {
			return err
		}
		for _, kv := range r.Header {
			if err := d.text(x, y, 160, rowH, kv[0], gopdf.Left); err != nil {
				return err
			}
			if err := d.text(x+160, y, w-160, rowH, kv[1], gopdf.Left); err != nil {
				return err
			}
			y += rowH
		}
		for _, t := range r.Tables {
			room(3 * rowH)
			y += 8
			if err := d.setSize(12); err != nil {
				return err
			}
			if err := d.text(x, y, w, rowH+4, t.Heading, gopdf.Left); err != nil {
				return err
			}
			y += rowH + 4
			if err := d.setSize(9); err != nil {
				return err
			}
			widths := t.Widths
			if len(widths) != len(t.Columns) {
				widths = make([]float64, len(t.Columns))
				for i := range widths {
					widths[i] = 1 / float64(len(t.Columns))
				}
			}
			drawRow := func(cells []string) error {
				cx := x
				for i, cell := range cells {
					if i >= len(widths) {
						break
					}
					cw := widths[i] * w
					align := gopdf.Right
					if i == 0 {
						align = gopdf.Left
					}
					if err := d.text(cx, y, cw, rowH, cell, align); err != nil {
						return err
					}
					cx += cw
				}
				y += rowH
				d.line(x, y, x+w, y)
				return nil
			}
			if err := drawRow(t.Columns); err != nil {
				return err
			}
			for _, row := range t.Rows {
				room(rowH)
				if err := drawRow(row); err != nil {
					return err
				}
			}
		}
		if r.Footer != "" {
			room(2 * rowH)
			y += 10
			if err := d.setSize(8); err != nil {
				return err
			}
			return d.wrapped(x, y, w, 2*rowH, r.Footer, 2)
		}
		return nil
	})
}
