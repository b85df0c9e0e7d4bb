// Package jsonscan reads the plain shapes of JSON that the hot paths see
// over and over (a queued usage event, the ledger's answer to a charge)
// without encoding/json's reflection, which was most of their decoding
// cost. It reads only the unambiguous forms — strings without escapes,
// integers as strconv writes them, numbers as PostgreSQL writes a numeric —
// and reports false for anything else, so that the caller falls back to
// encoding/json and the two readings never differ (each caller fuzzes that).
package jsonscan

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Scanner reads one JSON text from B.
type Scanner struct {
	b []byte
	i int
}

// New returns a Scanner at the start of b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Space skips JSON whitespace.
func (d *Scanner) Space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

// End reports whether only whitespace is left.
func (d *Scanner) End() bool {
	d.Space()
	return d.i == len(d.b)
}

// Object reads {"key": value, …}, calling field to read each value; field
// reports false to give up (an unknown key, a value it cannot read).
func (d *Scanner) Object(field func(key []byte) bool) bool {
	d.Space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.Space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		key, ok := d.Raw()
		if !ok {
			return false
		}
		d.Space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		if !field(key) {
			return false
		}
		if done, ok := d.after('}'); done || !ok {
			return ok
		}
	}
}

// after reads what follows a member or an element: a comma (more to come:
// done false) or closing (the object or array ends: done true); anything
// else is not JSON (ok false).
func (d *Scanner) after(closing byte) (done, ok bool) {
	d.Space()
	if d.i >= len(d.b) {
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return false, true
	case closing:
		d.i++
		return true, true
	}
	return false, false
}

// Array reads [value, …], calling elem to read each value; elem reports
// false to give up.
func (d *Scanner) Array(elem func() bool) bool {
	d.Space()
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return false
	}
	d.i++
	d.Space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		if done, ok := d.after(']'); done || !ok {
			return ok
		}
	}
}

// Str reads a string without escapes whose bytes are valid UTF-8 (what
// encoding/json would give unchanged).
func (d *Scanner) Str() (string, bool) {
	s, ok := d.Raw()
	return string(s), ok
}

// Raw is Str's bytes, not copied.
func (d *Scanner) Raw() ([]byte, bool) {
	d.Space()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// Int reads an integer written as strconv.FormatInt writes it.
func (d *Scanner) Int(v *int64) bool {
	d.Space()
	start := d.i
	for d.i < len(d.b) && (d.b[d.i] == '-' || d.b[d.i] >= '0' && d.b[d.i] <= '9') {
		d.i++
	}
	tok := d.b[start:d.i]
	var buf [20]byte
	n, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || string(strconv.AppendInt(buf[:0], n, 10)) != string(tok) {
		return false
	}
	*v = n
	return true
}

// Decimal reads -?digits(.digits)? with no leading zero before another
// digit (a numeric as PostgreSQL writes it in JSON), as decimal.Decimal's
// UnmarshalJSON does: NewFromString of the token.
func (d *Scanner) Decimal(v *decimal.Decimal) bool {
	d.Space()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	first := d.i
	if n := digits(); n == 0 || n > 1 && d.b[first] == '0' {
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	n, err := decimal.NewFromString(string(d.b[start:d.i]))
	*v = n
	return err == nil
}

// Bool reads true or false.
func (d *Scanner) Bool(v *bool) bool {
	d.Space()
	switch {
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		*v = true
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		*v = false
	default:
		return false
	}
	return true
}

// Time reads a time as time.Time.UnmarshalJSON does (a string without
// escapes: UnmarshalText of its contents).
func (d *Scanner) Time(t *time.Time) bool {
	d.Space()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			if t.UnmarshalText(d.b[start:j]) != nil {
				return false
			}
			d.i = j + 1
			return true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return false
		}
	}
	return false
}
