package plans

import (
	"fmt"
	"time"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// Cycle is how often a subscription is billed.
type Cycle string

// The billing cycles.
const (
	Monthly Cycle = "monthly"
	Yearly  Cycle = "yearly"
)

// months is the cycle's length in calendar months. An unknown cycle is a
// programming error.
func (c Cycle) months() int {
	switch c {
	case Monthly:
		return 1
	case Yearly:
		return 12
	}
	panic(fmt.Sprintf("plans: unknown billing cycle %q", string(c)))
}

// Period is a billing period [Start, End).
type Period struct {
	Start time.Time
	End   time.Time
}

// PeriodAt returns the n-th billing period (n = 0 is the first) of a
// subscription that started at anchor: [start, end), both in UTC.
//
// Periods are anniversaries of the anchor in Asia/Shanghai (no daylight
// saving time since 1991), always measured from the anchor itself, never
// from the previous period: the same wall-clock time on the anchor's day of
// the month, clamped to the month's last day when that month is shorter. A
// start on 31 Jan renews 28 Feb (29 Feb in a leap year), then 31 Mar, 30 Apr,
// 31 May; a yearly start on 29 Feb renews 28 Feb in common years and 29 Feb
// again in leap years. Negative n counts periods before the anchor. cycle
// must be Monthly or Yearly.
func PeriodAt(anchor time.Time, cycle Cycle, n int) (start, end time.Time) {
	k := cycle.months()
	return anniversary(anchor, n*k), anniversary(anchor, (n+1)*k)
}

// PeriodContaining returns the period of a subscription started at anchor
// that contains t (start ≤ t < end) and its number as PeriodAt counts it
// (negative when t is before anchor).
func PeriodContaining(anchor time.Time, cycle Cycle, t time.Time) (n int, start, end time.Time) {
	a, tt := anchor.In(format.Shanghai), t.In(format.Shanghai)
	months := (tt.Year()-a.Year())*12 + int(tt.Month()) - int(a.Month())
	n = floorDiv(months, cycle.months())
	for {
		start, end = PeriodAt(anchor, cycle, n)
		switch {
		case t.Before(start):
			n--
		case !t.Before(end):
			n++
		default:
			return n, start, end
		}
	}
}

// anniversary is anchor moved by months calendar months in Asia/Shanghai,
// its day clamped to the target month's last day.
func anniversary(anchor time.Time, months int) time.Time {
	a := anchor.In(format.Shanghai)
	total := int(a.Month()) - 1 + months
	year := a.Year() + floorDiv(total, 12)
	month := time.Month(total - floorDiv(total, 12)*12 + 1)
	day := min(a.Day(), daysIn(year, month))
	return time.Date(year, month, day, a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), format.Shanghai).UTC()
}

// daysIn is the number of days of month in year.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// floorDiv is a / b rounded towards minus infinity (b > 0).
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
