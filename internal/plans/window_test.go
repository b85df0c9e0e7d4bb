package plans

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWindowBounds(t *testing.T) {
	t.Parallel()
	period := Period{Start: sh(2025, 1, 31, 10, 0), End: sh(2025, 2, 28, 10, 0)}
	cases := []struct {
		name       string
		w          Window
		at         time.Time
		start, end string
	}{
		{"rolling 5 hours", Rolling(5), sh(2025, 2, 3, 14, 20), "2025-02-03 09:20", "2025-02-03 14:20"},
		{"Shanghai day", Day, sh(2025, 2, 3, 23, 59), "2025-02-03 00:00", "2025-02-04 00:00"},
		{"day at midnight starts a new day", Day, sh(2025, 2, 4, 0, 0), "2025-02-04 00:00", "2025-02-05 00:00"},
		{"day at 07:59 Shanghai is the Shanghai day, not UTC's", Day, sh(2025, 2, 4, 7, 59), "2025-02-04 00:00", "2025-02-05 00:00"},
		{"week from Monday (a Wednesday)", Week, sh(2025, 2, 5, 12, 0), "2025-02-03 00:00", "2025-02-10 00:00"},
		{"week on a Sunday night", Week, sh(2025, 2, 9, 23, 59), "2025-02-03 00:00", "2025-02-10 00:00"},
		{"week on Monday 00:00", Week, sh(2025, 2, 10, 0, 0), "2025-02-10 00:00", "2025-02-17 00:00"},
		{"week across the year end", Week, sh(2026, 1, 1, 8, 0), "2025-12-29 00:00", "2026-01-05 00:00"},
		{"billing period", PerPeriod, sh(2025, 2, 10, 0, 0), "2025-01-31 10:00", "2025-02-28 10:00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start, end := c.w.Bounds(c.at, period)
			require.Equal(t, c.start, day(start))
			require.Equal(t, c.end, day(end))
		})
	}
}

func TestWindowCounts(t *testing.T) {
	t.Parallel()
	at := sh(2025, 2, 3, 14, 0)
	w := Rolling(5)
	require.True(t, w.Counts(at, at, Period{}), "a use now counts")
	require.True(t, w.Counts(at.Add(-5*time.Hour+time.Nanosecond), at, Period{}))
	require.False(t, w.Counts(at.Add(-5*time.Hour), at, Period{}), "a use exactly 5 h ago has left")
	require.True(t, Day.Counts(sh(2025, 2, 3, 0, 0), at, Period{}))
	require.False(t, Day.Counts(sh(2025, 2, 2, 23, 59), at, Period{}))
}

func TestWindowFreeAt(t *testing.T) {
	t.Parallel()
	at := sh(2025, 2, 5, 14, 0) // a Wednesday
	period := Period{Start: sh(2025, 1, 31, 10, 0), End: sh(2025, 2, 28, 10, 0)}
	calls := func(times ...time.Time) []Use {
		us := make([]Use, len(times))
		for i, t := range times {
			us[i] = Use{At: t, Amount: 1}
		}
		return us
	}
	t.Run("RollingFreesWhenTheOldestCountedUseLeaves", func(t *testing.T) {
		// Limit 3 per 5 h, three calls at 10:00, 11:00, 13:00 (and one at
		// 08:00 that has left): the next call fits at 15:00.
		uses := calls(sh(2025, 2, 5, 13, 0), sh(2025, 2, 5, 8, 0), sh(2025, 2, 5, 10, 0), sh(2025, 2, 5, 11, 0))
		free, ok := Rolling(5).FreeAt(at, period, uses, 3, 1)
		require.True(t, ok)
		require.Equal(t, "2025-02-05 15:00", day(free))
		// Two more need two uses gone: 16:00.
		free, ok = Rolling(5).FreeAt(at, period, uses, 3, 2)
		require.True(t, ok)
		require.Equal(t, "2025-02-05 16:00", day(free))
		// Under the limit: now.
		free, ok = Rolling(5).FreeAt(at, period, uses, 4, 1)
		require.True(t, ok)
		require.Equal(t, at, free)
	})
	t.Run("RollingTokens", func(t *testing.T) {
		uses := []Use{{At: sh(2025, 2, 5, 10, 0), Amount: 600}, {At: sh(2025, 2, 5, 12, 0), Amount: 300}}
		free, ok := Rolling(5).FreeAt(at, period, uses, 1000, 200)
		require.True(t, ok)
		require.Equal(t, "2025-02-05 15:00", day(free))
		_, ok = Rolling(5).FreeAt(at, period, uses, 1000, 1001)
		require.False(t, ok, "more than the limit never fits")
	})
	t.Run("CalendarFreesAtTheWindowsEnd", func(t *testing.T) {
		uses := calls(sh(2025, 2, 3, 9, 0), sh(2025, 2, 5, 9, 0))
		free, ok := Week.FreeAt(at, period, uses, 2, 1)
		require.True(t, ok)
		require.Equal(t, "2025-02-10 00:00", day(free))
		free, ok = Day.FreeAt(at, period, uses, 1, 1)
		require.True(t, ok)
		require.Equal(t, "2025-02-06 00:00", day(free))
		free, ok = PerPeriod.FreeAt(at, period, uses, 2, 1)
		require.True(t, ok)
		require.Equal(t, "2025-02-28 10:00", day(free))
		free, ok = Day.FreeAt(at, period, uses, 2, 1) // only today's use counts
		require.True(t, ok)
		require.Equal(t, at, free)
	})
	t.Run("UnlimitedAlwaysFits", func(t *testing.T) {
		free, ok := Rolling(5).FreeAt(at, period, calls(at, at, at), Unlimited, 1_000_000)
		require.True(t, ok)
		require.Equal(t, at, free)
	})
}
