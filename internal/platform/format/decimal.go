package format

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// pow10 holds 10^0 … 10^18, the powers an int64 coefficient can need.
var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// AppendDecimal appends d exactly as d.String() writes it (with the
// package's defaults: trailing zeros trimmed, no scientific notation).
// Amounts in this project have at most 18 digits and 6 decimals, and for
// those it writes the digits itself rather than through big.Int, which
// showed in the profiles of pages and answers that print many amounts;
// anything else goes through d.String().
func AppendDecimal(b []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if exp > 0 || exp < -18 || !decimal.TrimTrailingZeros || decimal.UseScientificNotation || d.NumDigits() > 18 {
		return append(b, d.String()...)
	}
	c := d.CoefficientInt64()
	if exp == 0 {
		return strconv.AppendInt(b, c, 10)
	}
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c) // |c| < 10^18: no overflow
	}
	scale := pow10[-exp]
	b = strconv.AppendUint(b, u/scale, 10)
	frac, digits := u%scale, int(-exp)
	if frac == 0 {
		return b
	}
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	b = append(b, '.')
	n := 1 // frac's own digits; the rest of the fraction are leading zeros
	for v := frac; v >= 10; v /= 10 {
		n++
	}
	for ; n < digits; n++ {
		b = append(b, '0')
	}
	return strconv.AppendUint(b, frac, 10)
}

// DecimalString is AppendDecimal as a string: the text of d.String().
func DecimalString(d decimal.Decimal) string {
	var buf [32]byte
	return string(AppendDecimal(buf[:0], d))
}
