package backoffice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPlanFeeRecognisedByDay: a plan fee is recognised evenly over its
// period, day by day in Asia/Shanghai, cumulatively rounded so the days add
// up to the fee to the fen; nothing before it is paid; a refund earns what
// it kept on its day and leaves nothing deferred.
func TestPlanFeeRecognisedByDay(t *testing.T) {
	sh := Shanghai
	// A monthly plan bought 31 Jan 2026 10:00 in Shanghai: its period ends
	// 28 Feb 10:00 (anchored to the month's end), 28 days.
	start := time.Date(2026, 1, 31, 10, 0, 0, 0, sh)
	end := time.Date(2026, 2, 28, 10, 0, 0, 0, sh)
	f := PlanFee{Fen: 2_900, PaidAt: start, Start: start, End: end}
	day0 := time.Date(2026, 1, 31, 0, 0, 0, 0, sh)
	require.Zero(t, f.RecognisedBy(day0), "nothing before the period")
	// 31 Jan: 14 of the period's 672 hours: 2,900 × 14 ÷ 672 = 60.416… → 60.
	require.EqualValues(t, 60, f.RecognisedBy(day0.AddDate(0, 0, 1)))
	// A whole day is 2,900 ÷ 28 = 103.57 fen: every day is 103 or 104.
	var sum int64
	for d := day0; d.Before(end.AddDate(0, 0, 1)); d = d.AddDate(0, 0, 1) {
		n := f.RecognisedBy(d.AddDate(0, 0, 1)) - f.RecognisedBy(d)
		if d.After(day0) && d.Before(time.Date(2026, 2, 28, 0, 0, 0, 0, sh)) {
			require.True(t, n == 103 || n == 104, "%s: %d", d.Format("01-02"), n)
		}
		sum += n
	}
	require.EqualValues(t, 2_900, sum, "the days add up to the fee")
	require.EqualValues(t, 2_900, f.RecognisedBy(end.AddDate(1, 0, 0)))

	t.Run("PaidLateInGrace", func(t *testing.T) {
		g := PlanFee{Fen: 2_900, PaidAt: start.AddDate(0, 0, 2), Start: start, End: end}
		require.Zero(t, g.RecognisedBy(start.AddDate(0, 0, 1)), "not recognised before it is received")
		require.Positive(t, g.RecognisedBy(start.AddDate(0, 0, 3)), "then it catches up")
	})
	t.Run("RefundedYear", func(t *testing.T) {
		ys := time.Date(2026, 1, 15, 10, 0, 0, 0, sh)
		ye := time.Date(2027, 1, 15, 10, 0, 0, 0, sh)
		at := time.Date(2026, 6, 25, 15, 0, 0, 0, sh) // month 5 in progress: 6 unused months
		y := PlanFee{Fen: 29_000, PaidAt: ys, Start: ys, End: ye, Refunds: []PlanFeeRefund{{At: at, Fen: 14_500}}}
		before := y.RecognisedBy(time.Date(2026, 6, 25, 0, 0, 0, 0, sh))
		after := y.RecognisedBy(time.Date(2026, 6, 26, 0, 0, 0, 0, sh))
		require.EqualValues(t, 29_000-14_500, after, "what the refund kept is earned on its day")
		require.Less(t, before, after)
		require.EqualValues(t, 14_500, y.RefundedBy(ye))
		require.EqualValues(t, 29_000, y.RecognisedBy(ye)+y.RefundedBy(ye), "nothing left deferred")
	})
}
