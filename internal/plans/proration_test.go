package plans

import (
	"math/big"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestUpgradePrice(t *testing.T) {
	t.Parallel()
	start := sh(2025, 4, 1, 0, 0)
	end := sh(2025, 5, 1, 0, 0) // 30 days
	days := func(d float64) time.Time { return end.Add(-time.Duration(d * float64(24*time.Hour))) }
	cases := []struct {
		name     string
		old, new int64
		at       time.Time
		want     int64
	}{
		{"¥100 → ¥200 with 15 of 30 days left costs ¥50.00", 10_000, 20_000, days(15), 5_000},
		{"the whole period left costs the whole difference", 10_000, 20_000, start, 10_000},
		{"zero remaining costs nothing", 10_000, 20_000, end, 0},
		{"the same price costs nothing", 9_900, 9_900, days(10), 0},
		{"from Free", 0, 2_900, days(10), 967},                      // 2900/3 = 966.67
		{"one second left", 0, 2_592_000, end.Add(-time.Second), 1}, // exactly 1 fen
		// Halves: 1 fen × 15/30 = 0.5 → 0 (even); 3 fen × 15/30 = 1.5 → 2 (even).
		{"half rounds down to even", 0, 1, days(15), 0},
		{"half rounds up to even", 0, 3, days(15), 2},
		{"2.5 fen rounds to 2", 0, 5, days(15), 2},
		{"3.5 fen rounds to 4", 0, 7, days(15), 4},
		{"just over a half rounds up", 0, 1, days(15).Add(-time.Second), 1},
		// Sub-second remainders are not charged: 15 days minus 0.9 s is
		// 15 days minus 1 whole second.
		{"prorated by the whole second", 0, 2_592_000, days(15).Add(900 * time.Millisecond), 1_295_999},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := UpgradePrice(c.old, c.new, start, end, c.at)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}

	t.Run("Errors", func(t *testing.T) {
		_, err := UpgradePrice(20_000, 10_000, start, end, days(15))
		require.ErrorIs(t, err, ErrNotAnUpgrade)
		_, err = UpgradePrice(0, 100, start, end, end.Add(time.Second))
		require.ErrorIs(t, err, ErrOutsidePeriod)
		_, err = UpgradePrice(0, 100, start, end, start.Add(-time.Second))
		require.ErrorIs(t, err, ErrOutsidePeriod)
		_, err = UpgradePrice(-1, 100, start, end, start)
		require.ErrorIs(t, err, ErrInvalidTerms)
	})
}

func TestUpgradeTwiceInOnePeriod(t *testing.T) {
	t.Parallel()
	// Basic ¥29 → Standard ¥99 with 20 of 30 days left, then Standard →
	// Professional ¥299 with 10 days left: each upgrade is priced from the
	// plan in force at its instant and rounded on its own.
	start, end := PeriodAt(sh(2025, 4, 1, 0, 0), Monthly, 0)
	at1 := end.Add(-20 * 24 * time.Hour)
	at2 := end.Add(-10 * 24 * time.Hour)
	first, err := UpgradePrice(2_900, 9_900, start, end, at1)
	require.NoError(t, err)
	require.Equal(t, int64(4_667), first) // 7000 × 2/3 = 4666.67
	second, err := UpgradePrice(9_900, 29_900, start, end, at2)
	require.NoError(t, err)
	require.Equal(t, int64(6_667), second) // 20000 × 1/3 = 6666.67
	// Together no more than going straight to Professional at the first
	// upgrade would have cost.
	direct, err := UpgradePrice(2_900, 29_900, start, end, at1)
	require.NoError(t, err)
	require.Equal(t, int64(18_000), direct)
	require.Less(t, first+second, direct)

	c1, err := UpgradeCredits(dec("20000"), dec("80000"), start, end, at1)
	require.NoError(t, err)
	require.Equal(t, "40000", c1.String())
	c2, err := UpgradeCredits(dec("80000"), dec("300000"), start, end, at2)
	require.NoError(t, err)
	require.Equal(t, "73333.333333", c2.String())
}

func TestDowngradeThenUpgrade(t *testing.T) {
	t.Parallel()
	// Standard (¥99) schedules a downgrade to Basic for the period's end,
	// then upgrades to Professional mid-period: the downgrade changed
	// nothing yet, so the upgrade is priced from Standard, not from Basic,
	// and the scheduled downgrade is dropped.
	start, end := PeriodAt(sh(2025, 6, 15, 12, 0), Monthly, 0)
	at := start.Add(15 * 24 * time.Hour) // 15 of 30 days left
	inForce := int64(9_900)
	got, err := UpgradePrice(inForce, 29_900, start, end, at)
	require.NoError(t, err)
	require.Equal(t, int64(10_000), got)
	wrongBasis, _ := UpgradePrice(2_900, 29_900, start, end, at)
	require.NotEqual(t, wrongBasis, got)
	// Going back up to the plan in force costs nothing.
	same, err := UpgradePrice(inForce, 9_900, start, end, at)
	require.NoError(t, err)
	require.Zero(t, same)
}

func TestUpgradeCredits(t *testing.T) {
	t.Parallel()
	start := sh(2025, 4, 1, 0, 0)
	end := sh(2025, 5, 1, 0, 0)
	half := end.Add(-15 * 24 * time.Hour)
	cases := []struct {
		name     string
		old, new string
		at       time.Time
		want     string
	}{
		{"half of the difference", "20000", "80000", half, "30000"},
		{"zero remaining", "20000", "80000", end, "0"},
		{"fewer credits grant nothing", "80000", "20000", half, "0"},
		// 0.000001 × 1/2 = 0.0000005 → 0 (even); 0.000003 × 1/2 → 0.000002.
		{"half a micro-credit rounds to even (down)", "0", "0.000001", half, "0"},
		{"half a micro-credit rounds to even (up)", "0", "0.000003", half, "0.000002"},
		{"a third", "0", "1", end.Add(-10 * 24 * time.Hour), "0.333333"},
		{"two thirds", "0", "1", end.Add(-20 * 24 * time.Hour), "0.666667"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := UpgradeCredits(dec(c.old), dec(c.new), start, end, c.at)
			require.NoError(t, err)
			require.True(t, dec(c.want).Equal(got), "got %s", got)
		})
	}
	_, err := UpgradeCredits(dec("-1"), dec("1"), start, end, half)
	require.ErrorIs(t, err, ErrInvalidTerms)
}

func TestYearlyRefund(t *testing.T) {
	t.Parallel()
	anchor := sh(2025, 1, 31, 0, 0)
	price := dec("0.001") // ¥ per credit
	base := RefundTerms{YearlyPriceFen: 99_000, MonthlyCredits: dec("80000"), Anchor: anchor, CreditPriceRMB: price}
	yearStart, yearEnd := PeriodAt(anchor, Yearly, 0)
	yearSeconds := int64(yearEnd.Sub(yearStart) / time.Second)
	cases := []struct {
		name     string
		at       time.Time
		consumed string
		unused   int
		unusedF  int64
		deductF  int64
		refundF  int64
	}{
		{"at the start, nothing consumed: 11 unused months", anchor, "0", 11, 90_750, 0, 90_750},
		{"in the second month (28 Feb clamp)", sh(2025, 2, 28, 0, 0), "0", 10, 82_500, 0, 82_500},
		{"last month: nothing unused", sh(2025, 12, 31, 0, 0), "0", 0, 0, 0, 0},
		// At the start the elapsed share is 0: every consumed credit is
		// excess; 10,000 credits at ¥0.001 = ¥10.
		{"credit consumed beyond the elapsed share is deducted", anchor, "10000", 11, 90_750, 1_000, 89_750},
		{"the refund never goes below 0", sh(2025, 11, 30, 12, 0), "960000", 1, 8_250, 0, 0},
		{"the next year counts from its own start", sh(2026, 2, 1, 0, 0), "0", 11, 90_750, 0, 90_750},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			terms := base
			terms.At, terms.Consumed = c.at, dec(c.consumed)
			r, err := YearlyRefund(terms)
			require.NoError(t, err)
			require.Equal(t, c.unused, r.UnusedMonths)
			require.Equal(t, c.unusedF, r.UnusedFen)
			if c.name != "the refund never goes below 0" {
				require.Equal(t, c.deductF, r.DeductionFen)
			} else {
				require.Greater(t, r.DeductionFen, r.UnusedFen)
			}
			require.Equal(t, c.refundF, r.RefundFen)
			require.Equal(t, max(0, r.UnusedFen-r.DeductionFen), r.RefundFen)
		})
	}

	t.Run("WithinTheElapsedShareNothingIsDeducted", func(t *testing.T) {
		// Halfway through the year, half the year's 960,000 credits are
		// the elapsed share: consuming exactly that deducts nothing, one
		// credit more deducts ¥0.001 → 0.1 fen → 0.
		at := yearStart.Add(time.Duration(yearSeconds/2) * time.Second)
		terms := base
		terms.At = at
		terms.Consumed = dec("480000")
		r, err := YearlyRefund(terms)
		require.NoError(t, err)
		require.True(t, dec("480000").Equal(r.Entitled), "entitled %s", r.Entitled)
		require.Zero(t, r.DeductionFen)
		require.True(t, r.Excess.IsZero())
		terms.Consumed = dec("480005") // 5 credits = ¥0.005 = 0.5 fen → 0 (even)
		r, err = YearlyRefund(terms)
		require.NoError(t, err)
		require.Equal(t, "5", r.Excess.String())
		require.Zero(t, r.DeductionFen)
		terms.Consumed = dec("480015") // 1.5 fen → 2 (even)
		r, err = YearlyRefund(terms)
		require.NoError(t, err)
		require.Equal(t, int64(2), r.DeductionFen)
	})

	t.Run("UnusedMonthsRoundOnceHalfEven", func(t *testing.T) {
		// ¥0.06 a year: 6 × 11 / 12 = 5.5 fen → 6 (even); ¥0.02: 2 × 11 /
		// 12 = 1.83 → 2; 18 × 1/12 = 1.5 → 2; 6 × 1/12 = 0.5 → 0.
		for _, c := range []struct {
			price int64
			at    time.Time
			want  int64
		}{{6, anchor, 6}, {2, anchor, 2}, {18, sh(2025, 11, 30, 0, 0), 2}, {6, sh(2025, 11, 30, 0, 0), 0}} {
			terms := base
			terms.YearlyPriceFen, terms.At, terms.Consumed = c.price, c.at, decimal.Zero
			r, err := YearlyRefund(terms)
			require.NoError(t, err)
			require.Equal(t, c.want, r.UnusedFen, "price %d", c.price)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		terms := base
		terms.At = anchor.Add(-time.Second)
		_, err := YearlyRefund(terms)
		require.ErrorIs(t, err, ErrOutsidePeriod)
		terms = base
		terms.At, terms.CreditPriceRMB = anchor, decimal.Zero
		_, err = YearlyRefund(terms)
		require.ErrorIs(t, err, ErrInvalidTerms)
	})
}

func TestRoundHalfEven(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		num, den int64
		want     int64
	}{{1, 2, 0}, {3, 2, 2}, {5, 2, 2}, {-1, 2, 0}, {-3, 2, -2}, {-5, 2, -2}, {7, 3, 2}, {-7, 3, -2}, {8, 3, 3}, {4, 1, 4}} {
		require.Equal(t, c.want, roundHalfEven(big.NewRat(c.num, c.den)).Int64(), "%d/%d", c.num, c.den)
	}
}
