package backoffice_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

var priceRuns atomic.Int64

// TestRevenueAtPricePaid: CREDIT_PRICE_RMB goes from ¥0.001 to ¥0.003
// between two manual recharges. Each lot's consumption, refund and bonus
// deduction is valued at what was paid for that lot, so a day's row is the
// same to the fen whichever price is in force when the report is made, and
// every lot's recognised revenue, refunds and deferred revenue add up to
// the money received for it.
func TestRevenueAtPricePaid(t *testing.T) {
	t.Parallel()
	// Each run (go test -count) reports on its own year of ledger time;
	// 1 January 02:00 in Shanghai.
	year := 2040 + int(priceRuns.Add(1))
	b := setup(t, setupOpts{start: time.Date(year-1, 12, 31, 18, 0, 0, 0, time.UTC)})
	finance := b.staff(t, auth.RoleFinance)
	acc := b.customer(t).account.ID
	day := 24 * time.Hour
	// The same back office after CREDIT_PRICE_RMB=0.003.
	dearer := backoffice.New(b.pool, b.l, b.users, backoffice.Options{Now: b.clock.Now, CreditPriceRMB: d("0.003")})

	recharge := func(svc *backoffice.Service, yuan string) ledger.Lot {
		t.Helper()
		serial := uniq("PRICE-")
		_, err := svc.ImportStatement(b.ctx, strings.NewReader(statementCSV(
			[]string{serial, "2040/01/01 09:00:00", "价格测试公司", yuan, "贷", "no code"})), serial+".csv", uniq("120-"), finance)
		require.NoError(t, err)
		q, err := svc.UnmatchedLines(b.ctx, serial, 50, finance)
		require.NoError(t, err)
		var lineID int64
		for _, l := range q {
			if l.Serial == serial {
				lineID = l.ID
			}
		}
		require.NotZero(t, lineID)
		r, err := svc.ResolveToAccount(b.ctx, lineID, acc, "payer phoned", finance)
		require.NoError(t, err)
		require.True(t, r.Applied)
		return r.Lot
	}
	charge := func(amount string) {
		t.Helper()
		r, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: uniq("c")})
		require.NoError(t, err)
		require.True(t, r.Unpaid.IsZero())
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, backoffice.Shanghai)
	report := func(svc *backoffice.Service, days int) backoffice.Report {
		t.Helper()
		r, err := svc.Revenue(b.ctx, from, from.AddDate(0, 0, days), backoffice.Daily, finance)
		require.NoError(t, err)
		return r
	}

	// Day 1, at ¥0.001: ¥100.00 buys 100,000 credits (lot A).
	a := recharge(b.svc, "100.00")
	requireDec(t, "100000", a.Amount)
	require.NotNil(t, a.PaidFen)
	require.EqualValues(t, 10000, *a.PaidFen)
	// Day 2: 33,333.333333 credits of A used: ¥33.33.
	b.clock.Add(day)
	charge("33333.333333")
	before := report(b.svc, 2)

	// Day 3, at ¥0.003: ¥99.99 buys 33,330 credits (lot B); 50,000 more of
	// A used: A's first 83,333.333333 credits are worth ¥83.33, so ¥50.00.
	b.clock.Add(day)
	bl := recharge(dearer, "99.99")
	requireDec(t, "33330", bl.Amount)
	require.EqualValues(t, 9999, *bl.PaidFen)
	charge("50000")
	// Day 4: a bonus of 5,000 promo credits comes with B; 10,000 credits
	// of B (¥30.00 at its price) are refunded with 2,000 of the bonus:
	// 1,000 unspent revoked, 1,000 already spent charged at ¥0.003:
	// ¥3.00 kept, ¥27.00 paid back.
	b.clock.Add(day)
	bonus := b.credit(t, acc, ledger.LotPromo, "5000", nil)
	charge("1000") // from the bonus (granted credit goes before paid)
	_, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: bl.ID, Amount: d("10000"), Fen: 3000, IdempotencyKey: uniq("r"),
		Bonus: &ledger.BonusRevocation{LotID: bonus.ID, Revoked: d("1000"), Charged: d("1000"), ChargedFen: 300}})
	require.NoError(t, err)
	// Day 5: 25,000 used: the bonus's last 3,000, then A's last
	// 16,666.666667 (¥16.67: A is used up, so it recognises all of its
	// ¥100.00), then 5,333.333333 of B (¥16.00).
	b.clock.Add(day)
	charge("25000")

	rep := report(b.svc, 5)
	require.Len(t, rep.Rows, 5)
	type yuan struct{ purchased, recognised, refunded, deducted, deferred string }
	want := []yuan{
		{"100.00", "0.00", "0.00", "0.00", "100.00"},
		{"0.00", "33.33", "0.00", "0.00", "66.67"},
		{"99.99", "50.00", "0.00", "0.00", "116.66"},
		{"0.00", "3.00", "27.00", "3.00", "86.66"},
		{"0.00", "32.67", "0.00", "0.00", "53.99"},
	}
	opening := rep.Rows[0].RMB.DeferredOpening
	for i, w := range want {
		r := rep.Rows[i].RMB
		requireDec(t, w.purchased, r.PaidPurchased, rep.Rows[i].Period)
		requireDec(t, w.recognised, r.Recognised, rep.Rows[i].Period)
		requireDec(t, w.refunded, r.PaidRefunded, rep.Rows[i].Period)
		requireDec(t, w.deducted, r.BonusDeducted, rep.Rows[i].Period)
		requireDec(t, w.deferred, r.DeferredClosing.Sub(opening), rep.Rows[i].Period)
		require.True(t, r.Breakage.IsZero())
	}
	requireDec(t, "1000", rep.Rows[3].Credits.PromoExpired, "revoked with the refund")
	// Invoicing by consumption reads the same valuation for one account.
	fen, err := b.svc.PaidConsumedFen(b.ctx, acc, from, from.AddDate(0, 0, 5))
	require.NoError(t, err)
	require.EqualValues(t, 11900, fen, "33.33 + 50.00 + 3.00 + 32.67")
	fen, err = b.svc.PaidConsumedFen(b.ctx, acc, from.AddDate(0, 0, 1), from.AddDate(0, 0, 3))
	require.NoError(t, err)
	require.EqualValues(t, 8333, fen)
	fen, err = b.svc.PaidConsumedFen(b.ctx, acc+1_000_000, from, from.AddDate(0, 0, 5))
	require.NoError(t, err)
	require.Zero(t, fen, "another account")
	byMonth, err := b.svc.PaidConsumedByMonth(b.ctx, acc, from.AddDate(0, -1, 0), from.AddDate(0, 2, 0))
	require.NoError(t, err)
	require.Equal(t, map[string]int64{from.Format("2006-01"): 11900}, byMonth, "by Shanghai month, in one pass")
	requireDec(t, "1000", rep.Rows[3].Credits.BonusDeducted)

	t.Run("PastRowsStayExact", func(t *testing.T) {
		// The period's own figures (parallel tests add to everyone's
		// opening balance, in their own years of ledger time).
		own := func(r backoffice.ReportRow) []string {
			y := r.RMB
			return []string{y.PaidPurchased.String(), y.Recognised.String(), y.Breakage.String(), y.PaidRefunded.String(),
				y.BonusDeducted.String(), y.DeferredClosing.Sub(y.DeferredOpening).String()}
		}
		for i := range before.Rows {
			require.Equal(t, own(before.Rows[i]), own(rep.Rows[i]), "a row made on day 2 is the same on day 5")
		}
		again := report(dearer, 5)
		for i := range rep.Rows {
			require.Equal(t, own(rep.Rows[i]), own(again.Rows[i]), "whichever price is in force")
		}
	})

	t.Run("EachLotReconcilesWithTheMoneyReceived", func(t *testing.T) {
		// What the ledger says is left of each lot, valued at its own price.
		lots, err := b.l.Lots(b.ctx, acc)
		require.NoError(t, err)
		var received, left int64
		for _, lot := range lots {
			if lot.Kind != ledger.LotPaid {
				continue
			}
			received += *lot.PaidFen
			left += ledger.NewLotValue(lot, *lot.PaidFen, d("0")).Left()
		}
		require.EqualValues(t, 19999, received)
		require.EqualValues(t, 5399, left, "A used up; B: ¥99.99 − ¥30.00 refunded − ¥16.00 used")
		tot := rep.Total.RMB
		requireDec(t, "199.99", tot.PaidPurchased)
		// recognised + refunded + deferred = cash received, to the fen.
		requireDec(t, "199.99", tot.Recognised.Add(tot.Breakage).Add(tot.PaidRefunded).Add(tot.DeferredClosing.Sub(tot.DeferredOpening)))
		requireDec(t, "53.99", tot.DeferredClosing.Sub(tot.DeferredOpening))
		require.EqualValues(t, left, tot.DeferredClosing.Sub(tot.DeferredOpening).Shift(2).IntPart())
	})

	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}
