package plans

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A quota window's forecast: at the pace since the window began, when its
// quota is used up, if before the window resets.
func TestWindowRunsOutAt(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	reset := start.Add(24 * time.Hour)
	now := start.Add(6 * time.Hour)
	day := Quota{Unit: Requests, Window: Day, Limit: 1000}
	for _, c := range []struct {
		name       string
		q          Quota
		used       int64
		at         time.Time
		before, ok bool
	}{
		// 400 in 6 h: the 600 left take 9 h more, at 15:00, before the reset.
		{"RunsOutBeforeTheReset", day, 400, start.Add(15 * time.Hour), true, true},
		// 100 in 6 h: the 900 left take 54 h: it lasts until the reset.
		{"LastsUntilTheReset", day, 100, reset, false, true},
		{"NothingUsed", day, 0, time.Time{}, false, false},
		{"UsedUp", day, 1000, time.Time{}, false, false},
		{"Unlimited", Quota{Unit: Requests, Window: Day, Limit: -1}, 5, time.Time{}, false, false},
		{"Rolling", Quota{Unit: Requests, Window: Rolling(5), Limit: 1000}, 900, time.Time{}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := WindowUsage{Quota: c.q, Used: c.used, Start: start, ResetAt: &reset}
			at, before, ok := u.RunsOutAt(now)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.before, before)
			require.True(t, c.at.Equal(at), "at %s, want %s", at, c.at)
		})
	}
}
