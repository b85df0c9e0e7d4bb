package plans

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// sh is a Shanghai wall-clock instant.
func sh(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, format.Shanghai)
}

func day(t time.Time) string { return t.In(format.Shanghai).Format("2006-01-02 15:04") }

func TestPeriodAt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		anchor time.Time
		cycle  Cycle
		starts []string // periods 0, 1, 2, … in Shanghai
	}{
		{"31 Jan clamps to Feb's end then returns to the 31st", sh(2025, 1, 31, 10, 30), Monthly,
			[]string{"2025-01-31 10:30", "2025-02-28 10:30", "2025-03-31 10:30", "2025-04-30 10:30", "2025-05-31 10:30"}},
		{"31 Jan in a leap year renews 29 Feb", sh(2024, 1, 31, 0, 0), Monthly,
			[]string{"2024-01-31 00:00", "2024-02-29 00:00", "2024-03-31 00:00"}},
		{"30th", sh(2025, 1, 30, 9, 0), Monthly,
			[]string{"2025-01-30 09:00", "2025-02-28 09:00", "2025-03-30 09:00", "2025-04-30 09:00"}},
		{"29 Feb monthly", sh(2024, 2, 29, 12, 0), Monthly,
			[]string{"2024-02-29 12:00", "2024-03-29 12:00", "2024-04-29 12:00"}},
		{"across the year end", sh(2025, 12, 31, 23, 59), Monthly,
			[]string{"2025-12-31 23:59", "2026-01-31 23:59", "2026-02-28 23:59"}},
		{"1st", sh(2025, 3, 1, 0, 0), Monthly,
			[]string{"2025-03-01 00:00", "2025-04-01 00:00", "2025-05-01 00:00"}},
		{"yearly from 29 Feb: 28 Feb in common years, 29 Feb in leap years", sh(2024, 2, 29, 8, 0), Yearly,
			[]string{"2024-02-29 08:00", "2025-02-28 08:00", "2026-02-28 08:00", "2027-02-28 08:00", "2028-02-29 08:00"}},
		{"yearly from 31 Jan", sh(2025, 1, 31, 0, 0), Yearly,
			[]string{"2025-01-31 00:00", "2026-01-31 00:00"}},
		{"yearly from 28 Feb stays on the 28th", sh(2023, 2, 28, 0, 0), Yearly,
			[]string{"2023-02-28 00:00", "2024-02-28 00:00", "2025-02-28 00:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for n := 0; n+1 < len(c.starts); n++ {
				start, end := PeriodAt(c.anchor, c.cycle, n)
				require.Equal(t, c.starts[n], day(start), "period %d start", n)
				require.Equal(t, c.starts[n+1], day(end), "period %d end", n)
				require.Equal(t, time.UTC, start.Location(), "times are UTC")
			}
		})
	}
}

func TestPeriodsAreWholeDaysInShanghai(t *testing.T) {
	t.Parallel()
	// Shanghai keeps no daylight saving time: every period is a whole
	// number of 24-hour days, also across the dates other zones change.
	anchor := sh(2025, 3, 9, 2, 30) // US DST starts that night
	for n := 0; n < 24; n++ {
		start, end := PeriodAt(anchor, Monthly, n)
		d := end.Sub(start)
		require.Zero(t, d%(24*time.Hour), "period %d lasts %s", n, d)
		require.Equal(t, "02:30", start.In(format.Shanghai).Format("15:04"))
	}
}

func TestYearlyPeriodsAlignWithMonths(t *testing.T) {
	t.Parallel()
	// A yearly plan grants month by month: its months are the monthly
	// periods of the same anchor, and month 12n starts year n.
	for _, anchor := range []time.Time{sh(2024, 2, 29, 0, 0), sh(2025, 1, 31, 18, 0), sh(2025, 8, 30, 6, 0)} {
		for y := 0; y < 5; y++ {
			ys, ye := PeriodAt(anchor, Yearly, y)
			ms, _ := PeriodAt(anchor, Monthly, 12*y)
			_, me := PeriodAt(anchor, Monthly, 12*y+11)
			require.Equal(t, ys, ms)
			require.Equal(t, ye, me)
		}
	}
}

func TestPeriodContaining(t *testing.T) {
	t.Parallel()
	anchor := sh(2025, 1, 31, 10, 0)
	cases := []struct {
		at     time.Time
		cycle  Cycle
		n      int
		start  string
		within bool
	}{
		{anchor, Monthly, 0, "2025-01-31 10:00", true},
		{sh(2025, 2, 28, 9, 59), Monthly, 0, "2025-01-31 10:00", true},
		{sh(2025, 2, 28, 10, 0), Monthly, 1, "2025-02-28 10:00", true},
		{sh(2025, 3, 30, 23, 0), Monthly, 1, "2025-02-28 10:00", true},
		{sh(2025, 3, 31, 10, 0), Monthly, 2, "2025-03-31 10:00", true},
		{sh(2025, 4, 1, 0, 0), Monthly, 2, "2025-03-31 10:00", true},
		{sh(2025, 1, 31, 9, 59), Monthly, -1, "2024-12-31 10:00", true},
		{sh(2027, 1, 31, 9, 0), Yearly, 1, "2026-01-31 10:00", true},
		{sh(2027, 1, 31, 10, 0), Yearly, 2, "2027-01-31 10:00", true},
	}
	for _, c := range cases {
		n, start, end := PeriodContaining(anchor, c.cycle, c.at)
		require.Equal(t, c.n, n, "at %s", day(c.at))
		require.Equal(t, c.start, day(start), "at %s", day(c.at))
		require.True(t, !c.at.Before(start) && c.at.Before(end))
		s2, e2 := PeriodAt(anchor, c.cycle, n)
		require.Equal(t, start, s2)
		require.Equal(t, end, e2)
	}
	// Every instant of three years, hour by hour, lands in exactly one
	// period, and periods tile time with no gap.
	for _, a := range []time.Time{sh(2024, 2, 29, 23, 30), sh(2025, 1, 31, 0, 0)} {
		prevN := 0
		for at := a; at.Before(a.AddDate(3, 0, 0)); at = at.Add(time.Hour) {
			n, start, end := PeriodContaining(a, Monthly, at)
			require.True(t, !at.Before(start) && at.Before(end))
			require.True(t, n == prevN || n == prevN+1)
			prevN = n
		}
	}
}

func TestPeriodsAreShanghaiAnniversariesNotUTC(t *testing.T) {
	t.Parallel()
	// 31 Jan 00:00 in Shanghai is 30 Jan 16:00 UTC: the anniversary is of
	// the Shanghai date, so it renews 28 Feb 00:00 Shanghai (27 Feb 16:00
	// UTC), not 28 Feb 16:00 UTC as arithmetic on the 30th in UTC would give
	// (and not 2 Mar as adding a month to 31 Jan naively would).
	anchor := time.Date(2025, 1, 30, 16, 0, 0, 0, time.UTC)
	_, end := PeriodAt(anchor, Monthly, 0)
	require.Equal(t, time.Date(2025, 2, 27, 16, 0, 0, 0, time.UTC), end)
	start, _ := PeriodAt(anchor, Monthly, 2)
	require.Equal(t, time.Date(2025, 3, 30, 16, 0, 0, 0, time.UTC), start, "31 Mar Shanghai")
}

func TestLeapDayAnchorMonthly(t *testing.T) {
	t.Parallel()
	anchor := sh(2024, 2, 29, 0, 0)
	for _, c := range []struct {
		n    int
		want string
	}{{1, "2024-03-29 00:00"}, {12, "2025-02-28 00:00"}, {13, "2025-03-29 00:00"}, {48, "2028-02-29 00:00"}, {-1, "2024-01-29 00:00"}} {
		start, _ := PeriodAt(anchor, Monthly, c.n)
		require.Equal(t, c.want, day(start), "period %d", c.n)
	}
}
