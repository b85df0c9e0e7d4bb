package format

import (
	"errors"
	"strings"

	"github.com/shopspring/decimal"
)

// ErrNotANumber is returned by ParseDecimal for text that is not a plain
// decimal number.
var ErrNotANumber = errors.New("format: not a number")

// NormalizeDigits maps what people type on Chinese keyboards to ASCII:
// full-width digits ０-９ and the full-width point, comma, minus and plus
// (．，－＋), the ideographic full stop 。, and the ideographic space; it
// also trims surrounding space.
func NormalizeDigits(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == '．' || r == '。':
			b.WriteByte('.')
		case r == '，':
			b.WriteByte(',')
		case r == '－':
			b.WriteByte('-')
		case r == '＋':
			b.WriteByte('+')
		case r == '\u3000':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// ParseDecimal is the one parser for amounts typed into forms: it accepts
// full-width digits, thousands separators ("1,000") and surrounding space,
// and refuses exponents, signs other than a leading minus, and empty text.
// The range is the caller's rule; this only reads the number.
func ParseDecimal(s string) (decimal.Decimal, error) {
	s = strings.ReplaceAll(NormalizeDigits(s), ",", "")
	if s == "" {
		return decimal.Decimal{}, ErrNotANumber
	}
	digits, dots := 0, 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			dots++
		case r == '-' && i == 0:
		default:
			return decimal.Decimal{}, ErrNotANumber
		}
	}
	if digits == 0 || dots > 1 {
		return decimal.Decimal{}, ErrNotANumber
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, ErrNotANumber
	}
	return d, nil
}
