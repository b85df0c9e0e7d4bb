package ledger

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// fastChargeResult reads a charge's answer as ledger_charge_run and
// ledger_charge write it (keys op_id, charged, unpaid, available, pool,
// plan_charged, replayed, shadow_refusal; plain numbers, strings without
// escapes) and reports false for anything else, an error answer included,
// which decode reads with encoding/json. decoding every usage event's
// answer by reflection was the largest JSON cost left in the consumer;
// FuzzChargeResult checks both readings agree.
func fastChargeResult(raw []byte, res *ChargeResult, pool *int64) bool {
	d := resultScanner{b: raw}
	d.space()
	if !d.byte('{') {
		return false
	}
	d.space()
	if d.byte('}') {
		return d.end()
	}
	for {
		key, ok := d.str()
		if !ok {
			return false
		}
		d.space()
		if !d.byte(':') {
			return false
		}
		d.space()
		switch string(key) {
		case "op_id":
			ok = d.int(&res.OpID)
		case "pool":
			ok = d.int(pool)
		case "charged":
			ok = d.decimal(&res.Charged)
		case "unpaid":
			ok = d.decimal(&res.Unpaid)
		case "available":
			ok = d.decimal(&res.Available)
		case "plan_charged":
			ok = d.decimal(&res.PlanCharged)
		case "replayed":
			ok = d.bool(&res.Replayed)
		case "shadow_refusal":
			var s []byte
			s, ok = d.str()
			res.ShadowRefusal = string(s)
		default:
			return false
		}
		if !ok {
			return false
		}
		d.space()
		if d.byte('}') {
			return d.end()
		}
		if !d.byte(',') {
			return false
		}
		d.space()
	}
}

type resultScanner struct {
	b []byte
	i int
}

func (d *resultScanner) space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

func (d *resultScanner) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *resultScanner) end() bool {
	d.space()
	return d.i == len(d.b)
}

// str reads a string of printable ASCII without escapes.
func (d *resultScanner) str() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// number reads -?digits(.digits)? with no leading zero before another
// digit: a JSON number as PostgreSQL writes a numeric.
func (d *resultScanner) number() ([]byte, bool) {
	start := d.i
	d.byte('-')
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
		return nil, false
	}
	if d.byte('.') && digits() == 0 {
		return nil, false
	}
	return d.b[start:d.i], true
}

func (d *resultScanner) int(v *int64) bool {
	tok, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	*v = n
	return err == nil
}

// decimal reads a number as decimal.Decimal's UnmarshalJSON does
// (NewFromString of the token).
func (d *resultScanner) decimal(v *decimal.Decimal) bool {
	tok, ok := d.number()
	if !ok {
		return false
	}
	n, err := decimal.NewFromString(string(tok))
	*v = n
	return err == nil
}

func (d *resultScanner) bool(v *bool) bool {
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
