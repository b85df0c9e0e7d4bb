package plans

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestUpgradeRefundRule(t *testing.T) {
	t.Parallel()
	pricedAt := shu(2027, 4, 11, 0, 0) // 20 of April's 30 days left
	end := shu(2027, 5, 1, 0, 0)
	day := 24 * time.Hour
	price := decimal.RequireFromString("0.001")
	for _, tc := range []struct {
		name      string
		at        time.Time
		grantEnd  time.Time
		consumed  string
		unused    int64
		entitled  string
		deduction int64
		refund    int64
		err       error
	}{
		// ¥46.67 paid for 20 days; 40,000 credits for the same 20 days.
		{"AtOnceEverythingBack", pricedAt, end, "0", 4_667, "0", 0, 4_667, nil},
		{"HalfwayWithinTheShare", pricedAt.Add(10 * day), end, "15000", 2_334, "20000", 0, 2_334, nil}, // 2,333.5 → 2,334 (even)
		{"HalfwayBeyondTheShare", pricedAt.Add(10 * day), end, "30000", 2_334, "20000", 1_000, 1_334, nil},
		{"DeductionAboveUnused", pricedAt.Add(19 * day), end, "40000", 233, "38000", 200, 33, nil},
		{"NeverBelowZero", pricedAt.Add(19 * day), end, "45000", 233, "38000", 700, 0, nil},
		{"PeriodOver", end, end, "0", 0, "", 0, 0, ErrOutsidePeriod},
		// A yearly upgrade's credit is the month's: refundable until it ends.
		{"YearlyMonthOver", pricedAt.Add(25 * day), end, "0", 0, "", 0, 0, ErrOutsidePeriod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			terms := UpgradeRefundTerms{PriceFen: 4_667, PricedAt: pricedAt, PeriodEnd: end, Credits: dec("40000"),
				GrantEnd: tc.grantEnd, Consumed: dec(tc.consumed), At: tc.at, CreditPriceRMB: price}
			if tc.name == "YearlyMonthOver" {
				terms.PeriodEnd = shu(2028, 4, 1, 0, 0)
			}
			got, err := UpgradeRefundRule(terms)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.unused, got.UnusedFen)
			require.Equal(t, tc.entitled, got.Entitled.String())
			require.Equal(t, tc.deduction, got.DeductionFen)
			require.Equal(t, tc.refund, got.RefundFen)
		})
	}
	_, err := UpgradeRefundRule(UpgradeRefundTerms{PriceFen: 1, PricedAt: pricedAt, PeriodEnd: end, GrantEnd: end, At: pricedAt})
	require.ErrorIs(t, err, ErrInvalidTerms, "no credit price")
}

// TestUpgradeRefund: a paid upgrade (low → mid, 20 of 30 days left, ¥46.67,
// 40,000 credits) is quoted, refunded through RefundUpgradeTx (the upgrade's
// plan lot is revoked, the subscription is back on low, an
// upgrade_refunded event), cannot be refunded twice, and can be bought
// again in the same period.
func TestUpgradeRefund(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	b.subs.creditRMB = decimal.RequireFromString("0.001")
	b.left(20)
	_, err := b.subs.UpgradeRefundQuote(ctx, b.account)
	require.ErrorIs(t, err, ErrNoUpgradeRefund, "no upgrade yet")
	c, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	_, err = b.pay(t, c, "UP-1")
	require.NoError(t, err)
	orderNo := fmt.Sprintf("UP-1-%d", b.first.ID)

	b.left(10)
	// 30,000 of the upgrade's 40,000 credit spent (the month's grant first
	// or not, the upgrade lot expires with it: spend all plan credit).
	_, err = b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: b.account, Amount: decimal.NewFromInt(50_000),
		IdempotencyKey: "use-upgrade", Model: "deepseek-chat"})
	require.NoError(t, err)
	q, err := b.subs.UpgradeRefundQuote(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, orderNo, q.Upgrade.OrderNo)
	require.Equal(t, b.low.Code, q.From.Code)
	require.EqualValues(t, 2_334, q.UnusedFen, "4,667 × 10/20 = 2,333.5 → 2,334")
	require.Equal(t, "20000", q.Entitled.String(), "half of 40,000")
	consumed := q.Consumed
	require.True(t, consumed.IsPositive(), "the upgrade's lot was spent from")
	wantExcess := decimal.Max(decimal.Zero, consumed.Sub(dec("20000")))
	require.True(t, q.Excess.Equal(wantExcess), "%s vs %s", q.Excess, wantExcess)
	require.EqualValues(t, max(0, 2_334-q.DeductionFen), q.RefundFen)

	refund := func(maxFen int64) (UpgradeRefunded, error) {
		var out UpgradeRefunded
		err := db.InTx(ctx, dbtest.AppPool(t), func(tx pgx.Tx) error {
			var err error
			out, err = b.subs.RefundUpgradeTx(ctx, tx, RefundUpgrade{AccountID: b.account, OrderNo: orderNo, MaxFen: maxFen,
				Actor: "test", Note: "too much"})
			return err
		})
		return out, err
	}
	_, err = func() (UpgradeRefunded, error) {
		var out UpgradeRefunded
		err := db.InTx(ctx, dbtest.AppPool(t), func(tx pgx.Tx) error {
			var err error
			out, err = b.subs.RefundUpgradeTx(ctx, tx, RefundUpgrade{AccountID: b.account, OrderNo: "other", MaxFen: 1, Actor: "test"})
			return err
		})
		return out, err
	}()
	require.ErrorIs(t, err, ErrNoUpgradeRefund, "another order did not pay the upgrade")

	got, err := refund(q.RefundFen + 500)
	require.NoError(t, err)
	require.Equal(t, q.RefundFen, got.RefundFen, "never more than the rule gives")
	require.True(t, got.Revoked.Equal(dec("40000").Sub(consumed)), "the upgrade lot's rest is taken back: %s", got.Revoked)
	s := b.sub_(t)
	require.Equal(t, b.low.Code, s.PlanCode, "back on the plan upgraded from")
	require.Equal(t, b.low.Version, s.PlanVersion)
	evs, err := b.subs.Events(ctx, b.first.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, EventUpgradeRefunded, last.Kind)
	from, ok := last.Other()
	require.True(t, ok)
	require.Equal(t, b.mid.Code, from.Code)

	_, err = refund(q.RefundFen)
	require.ErrorIs(t, err, ErrNoUpgradeRefund, "refunded once")
	_, err = b.subs.UpgradeRefundQuote(ctx, b.account)
	require.ErrorIs(t, err, ErrNoUpgradeRefund)

	// The same upgrade may be bought again in the period: a new lot.
	again, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.EqualValues(t, 2_333, again.PriceFen, "7,000 × 10/30 = 2,333.33")
	_, err = b.pay(t, again, "UP-2")
	require.NoError(t, err)
	require.Equal(t, b.mid.Code, b.sub_(t).PlanCode)
	q2, err := b.subs.UpgradeRefundQuote(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("UP-2-%d", b.first.ID), q2.Upgrade.OrderNo)
	require.Equal(t, "20000", q2.Upgrade.Credits.String(), "60,000 × 10/30: a fresh lot for the second round")
	require.NotZero(t, q2.Upgrade.LotID)
	require.NotEqual(t, q.Upgrade.LotID, q2.Upgrade.LotID)
}
