// Package format turns amounts and times into the text users read: RMB as
// ¥1,234.56, credits with thousands separators, times in Asia/Shanghai.
package format

import (
	"strings"
	"time"
	_ "time/tzdata" // Asia/Shanghai must load on machines without zoneinfo.

	"github.com/shopspring/decimal"
)

// Shanghai is the time zone every time is shown in (China Standard Time).
var Shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is linked in, so this cannot happen.
	}
	return loc
}

// Money formats an RMB amount to the fen: ¥1,234.56, -¥0.50. Half-even
// rounding applies only if d carries more than two decimals.
func Money(d decimal.Decimal) string {
	s := group(d.Abs().StringFixedBank(2))
	if d.RoundBank(2).IsNegative() {
		return "-¥" + s
	}
	return "¥" + s
}

// Credits formats a credit amount with thousands separators and as many
// decimals as it needs, at most six: 1,234,567 or 12.5 or 0.000125.
func Credits(d decimal.Decimal) string {
	r := d.RoundBank(6)
	s := r.Abs().StringFixed(6)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if r.IsNegative() {
		return "-" + group(s)
	}
	return group(s)
}

// Time formats t as 2006-01-02 15:04 in Asia/Shanghai.
func Time(t time.Time) string { return t.In(Shanghai).Format("2006-01-02 15:04") }

// Date formats t's calendar day in Asia/Shanghai as 2006-01-02.
func Date(t time.Time) string { return t.In(Shanghai).Format("2006-01-02") }

// group inserts a comma every three digits of the integer part of a
// non-negative decimal string.
func group(s string) string {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
