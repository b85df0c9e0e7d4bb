package plans

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// refundYear runs RefundYearTx in a transaction of its own.
func (b *subBundle) refundYear(t *testing.T, orderNo string, maxFen int64) (YearRefunded, error) {
	t.Helper()
	var out YearRefunded
	err := db.InTx(context.Background(), b.subs.pool, func(tx pgx.Tx) error {
		var err error
		out, err = b.subs.RefundYearTx(context.Background(), tx, RefundYear{AccountID: b.account, OrderNo: orderNo,
			MaxFen: maxFen, Actor: "test", Note: "no longer needed"})
		return err
	})
	return out, err
}

// TestYearRefund: the yearly refund rule on a paid year (basic: ¥290 a
// year, 20,000 plan credits a month, credits at ¥0.001): the quote the
// portal shows, then the refund, which revokes the plan credit left, ends
// the subscription with a refunded event and cannot happen twice.
func TestYearRefund(t *testing.T) {
	ctx := context.Background()
	anchor := time.Date(2026, 1, 15, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	setup := func(t *testing.T) (*subBundle, Subscription) {
		b := setupSubs(t, anchor)
		b.subs.creditRMB = decimal.RequireFromString("0.001")
		sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Yearly,
			Actor: "payments:wechat", Note: "P2026011500001"})
		require.NoError(t, err)
		return b, sub
	}

	t.Run("FullYearUnusedAfterOneDay", func(t *testing.T) {
		b, sub := setup(t)
		b.clock.Set(anchor.Add(24 * time.Hour))
		q, err := b.subs.YearRefundQuote(ctx, b.account)
		require.NoError(t, err)
		require.Equal(t, "P2026011500001", q.OrderNo)
		require.EqualValues(t, 29_000, q.PaidFen)
		require.Equal(t, 11, q.UnusedMonths, "the month in progress counts as used")
		require.EqualValues(t, 26_583, q.UnusedFen, "29,000 × 11 ÷ 12 = 26,583.33")
		require.True(t, q.Consumed.IsZero())
		require.EqualValues(t, 0, q.DeductionFen)
		require.EqualValues(t, 26_583, q.RefundFen)

		got, err := b.refundYear(t, q.OrderNo, q.RefundFen)
		require.NoError(t, err)
		require.EqualValues(t, 26_583, got.RefundFen)
		require.True(t, got.Revoked.Equal(decimal.NewFromInt(20_000)), "the month's plan credit is taken back: %s", got.Revoked)
		require.Empty(t, nonEmpty(b.planLots(t)))
		bal, err := b.ledger.Balance(ctx, b.account)
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero())

		_, err = b.subs.Current(ctx, b.account)
		require.ErrorIs(t, err, ErrNotFound, "the subscription ended")
		es, err := b.subs.Events(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, EventRefunded, es[len(es)-1].Kind)
		require.Contains(t, es[len(es)-1].Note, "26583 fen")

		_, err = b.refundYear(t, q.OrderNo, q.RefundFen)
		require.ErrorIs(t, err, ErrNotFound, "refunded once: no plan is in force any more")
		evs, _, err := b.ledger.Events(ctx, b.account, ledger.EventFilter{}, 0, 10)
		require.NoError(t, err)
		require.Equal(t, ReasonPlanRefund, evs[0].ReasonCode)
	})

	t.Run("PartialYear", func(t *testing.T) {
		b, _ := setup(t)
		// Five months and ten days in: months 0–4 used, month 5 in progress.
		for m := 1; m <= 5; m++ {
			start, _ := PeriodAt(anchor, Monthly, m)
			b.clock.Set(start)
			_, err := b.subs.GrantDue(ctx, start)
			require.NoError(t, err)
		}
		start5, _ := PeriodAt(anchor, Monthly, 5)
		b.clock.Set(start5.Add(10 * 24 * time.Hour))
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: b.account, Amount: decimal.NewFromInt(1_000),
			IdempotencyKey: "use-partial", Model: "deepseek-chat"})
		require.NoError(t, err)
		q, err := b.subs.YearRefundQuote(ctx, b.account)
		require.NoError(t, err)
		require.Equal(t, 6, q.UnusedMonths)
		require.EqualValues(t, 14_500, q.UnusedFen, "29,000 × 6 ÷ 12")
		require.True(t, q.Consumed.Equal(decimal.NewFromInt(1_000)), "%s", q.Consumed)
		require.True(t, q.Excess.IsZero(), "within the elapsed share")
		require.EqualValues(t, 14_500, q.RefundFen)

		got, err := b.refundYear(t, q.OrderNo, 20_000)
		require.NoError(t, err)
		require.EqualValues(t, 14_500, got.RefundFen, "never more than the rule gives")
		require.True(t, got.Revoked.Equal(decimal.NewFromInt(19_000)), "%s", got.Revoked)
	})

	t.Run("CreditsConsumedBeyondTheElapsedShare", func(t *testing.T) {
		b, _ := setup(t)
		b.clock.Set(anchor.Add(24 * time.Hour))
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: b.account, Amount: decimal.NewFromInt(15_000),
			IdempotencyKey: "use-beyond", Model: "deepseek-chat"})
		require.NoError(t, err)
		q, err := b.subs.YearRefundQuote(ctx, b.account)
		require.NoError(t, err)
		// Entitled: 240,000 × 1 day ÷ 365 days = 657.534247; excess 14,342.465753
		// credits at ¥0.001 = ¥14.342… = 1,434 fen.
		require.Equal(t, "657.534247", q.Entitled.StringFixed(6))
		require.Equal(t, "14342.465753", q.Excess.StringFixed(6))
		require.EqualValues(t, 1_434, q.DeductionFen)
		require.EqualValues(t, 26_583-1_434, q.RefundFen)

		t.Run("AMonthLaterTheRuleGivesLess", func(t *testing.T) {
			next, _ := PeriodAt(anchor, Monthly, 1)
			b.clock.Set(next.Add(time.Hour))
			got, err := b.refundYear(t, q.OrderNo, q.RefundFen)
			require.NoError(t, err)
			require.Less(t, got.RefundFen, q.RefundFen, "the month begun meanwhile counts as used")
			require.Equal(t, 10, got.UnusedMonths)
		})
	})

	t.Run("NotRefundable", func(t *testing.T) {
		b := setupSubs(t, anchor)
		b.subs.creditRMB = decimal.RequireFromString("0.001")
		_, err := b.subs.YearRefundQuote(ctx, b.account)
		require.ErrorIs(t, err, ErrNotFound, "no plan")
		_, _, err = b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly,
			Actor: "payments:wechat", Note: "P1"})
		require.NoError(t, err)
		_, err = b.subs.YearRefundQuote(ctx, b.account)
		require.ErrorIs(t, err, ErrNoYearRefund, "a monthly plan is not refunded by the yearly rule")
		_, err = b.refundYear(t, "P1", 100)
		require.ErrorIs(t, err, ErrNoYearRefund)
	})
}

// nonEmpty are the lots with credit left.
func nonEmpty(lots []ledger.Lot) []ledger.Lot {
	var out []ledger.Lot
	for _, l := range lots {
		if l.Remaining.IsPositive() {
			out = append(out, l)
		}
	}
	return out
}
