package backoffice_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
)

// TestPostpaidRevenueAndReceivable: an enterprise spends its paid credit
// and then its credit line; the line's consumption is revenue at the credit
// price as it is spent and a receivable (应收) until its bill is paid. At
// each step — spent, billed, paid — every figure is checked to the fen: the
// period's consumption is worth exactly its bill, closing the bill moves
// nothing but the billed part of the receivable, paying it takes the
// receivable down by the bill, and reports starting after the bill (its
// period read whole) agree with the reports over the whole range.
func TestPostpaidRevenueAndReceivable(t *testing.T) {
	t.Parallel()
	// 2026-03-01 16:00 Shanghai; a database of its own: the report is the whole ledger's.
	b := setup(t, setupOpts{start: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), own: true, creditLines: true})
	finance := b.staff(t, auth.RoleFinance)
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结"})
	require.NoError(t, err)
	_, err = b.svc.SetCreditLine(b.ctx, creditline.Spec{AccountID: acc.ID, LineFen: 500_000, BillingDay: 5, TermsDays: 10, GraceDays: 5}, "contract", finance)
	require.NoError(t, err)
	_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("1000"), PaidFen: 100,
		IdempotencyKey: uniq("k"), Actor: "test"})
	require.NoError(t, err)
	charge := func(at time.Time, amount string) {
		t.Helper()
		b.clock.Add(at.Sub(b.clock.Now()))
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d(amount), IdempotencyKey: uniq("c")})
		require.NoError(t, err)
	}
	utc := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	// 2 March: the paid lot (¥1.00), then 100000.5 credits of the line: ¥100.0005 → ¥100.00.
	charge(utc(2, 2), "101000.5")
	// 3 March: 23456.288889 more: the period's 123456.788889 credits are ¥123.46, so this is ¥23.46.
	charge(utc(3, 2), "23456.288889")
	// 5 March 10:00 Shanghai, after the billing day (00:00): 1000 credits, ¥1.00, of the next period.
	charge(utc(5, 2), "1000")

	sh := func(day int) time.Time { return time.Date(2026, 3, day, 0, 0, 0, 0, backoffice.Shanghai) }
	report := func(from, to time.Time, g backoffice.Granularity) backoffice.Report {
		t.Helper()
		r, err := b.svc.Revenue(b.ctx, from, to, g, finance)
		require.NoError(t, err)
		return r
	}
	row := func(r backoffice.Report, period string) backoffice.ReportRow {
		t.Helper()
		for _, x := range r.Rows {
			if x.Period == period {
				return x
			}
		}
		t.Fatalf("no row %s", period)
		return backoffice.ReportRow{}
	}
	type want struct{ recognised, paid, opening, closing, billed string }
	check := func(x backoffice.ReportRow, w want) {
		t.Helper()
		y := x.RMB
		requireDec(t, w.recognised, y.PostpaidRecognised, x.Period, "postpaid recognised")
		requireDec(t, w.paid, y.BillsPaid, x.Period, "bills paid")
		requireDec(t, w.opening, y.ReceivableOpening, x.Period, "receivable opening")
		requireDec(t, w.closing, y.ReceivableClosing, x.Period, "receivable closing")
		requireDec(t, w.billed, y.ReceivableBilled, x.Period, "billed")
		require.True(t, y.ReceivableClosing.Equal(y.ReceivableOpening.Add(y.PostpaidRecognised).Sub(y.BillsPaid)), "%s: the identity", x.Period)
		c := x.Credits
		require.True(t, c.ReceivableClosing.Equal(c.ReceivableOpening.Add(c.PostpaidRecognised).Sub(c.BillsPaid)), "%s: the identity in credits", x.Period)
	}
	paidRecognised := func(r backoffice.Report) {
		t.Helper()
		requireDec(t, "1.00", row(r, "2026-03-02").RMB.Recognised, "the paid lot is revenue at its price, the line apart")
		requireDec(t, "1000", row(r, "2026-03-02").Credits.Recognised)
	}

	// Spent, nothing billed yet: revenue as spent, all of it receivable, unbilled.
	b.clock.Add(time.Hour)
	daily := report(sh(1), sh(10), backoffice.Daily)
	paidRecognised(daily)
	check(row(daily, "2026-03-02"), want{"100.00", "0", "0", "100.00", "0"})
	check(row(daily, "2026-03-03"), want{"23.46", "0", "100.00", "123.46", "0"})
	check(row(daily, "2026-03-05"), want{"1.00", "0", "123.46", "124.46", "0"})
	check(daily.Total, want{"124.46", "0", "0", "124.46", "0"})
	requireDec(t, "124456.788889", daily.Total.Credits.PostpaidRecognised)

	// The period closes: one bill of exactly what its period recognised.
	bill, closed, err := b.lines.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.EqualValues(t, 12346, bill.AmountFen)
	requireDec(t, "123456.788889", bill.Credits)
	daily = report(sh(1), sh(10), backoffice.Daily)
	paidRecognised(daily)
	check(row(daily, "2026-03-02"), want{"100.00", "0", "0", "100.00", "0"})
	check(row(daily, "2026-03-03"), want{"23.46", "0", "100.00", "123.46", "0"})
	check(row(daily, "2026-03-05"), want{"1.00", "0", "123.46", "124.46", "123.46"})
	check(daily.Total, want{"124.46", "0", "0", "124.46", "123.46"})

	// 8 March: the bill is paid; the receivable falls by the bill.
	b.clock.Add(utc(8, 3).Sub(b.clock.Now()))
	_, err = b.svc.MarkBillPaid(b.ctx, bill.ID, "stmt-1", finance)
	require.NoError(t, err)
	b.clock.Add(time.Hour)
	daily = report(sh(1), sh(10), backoffice.Daily)
	paidRecognised(daily)
	check(row(daily, "2026-03-05"), want{"1.00", "0", "123.46", "124.46", "123.46"})
	check(row(daily, "2026-03-07"), want{"0", "0", "124.46", "124.46", "123.46"})
	check(row(daily, "2026-03-08"), want{"0", "123.46", "124.46", "1.00", "0"})
	check(daily.Total, want{"124.46", "123.46", "0", "1.00", "0"})
	requireDec(t, "123456.788889", daily.Total.Credits.BillsPaid)
	requireDec(t, "1000", daily.Total.Credits.ReceivableClosing, "the unbilled 1000 credits")

	// The month, and ranges starting after the bill's period (read whole): the same figures.
	monthly := report(sh(1), sh(1).AddDate(0, 1, 0), backoffice.Monthly)
	check(row(monthly, "2026-03"), want{"124.46", "123.46", "0", "1.00", "0"})
	late := report(sh(6), sh(10), backoffice.Daily)
	check(late.Total, want{"0", "123.46", "124.46", "1.00", "0"})
	check(row(late, "2026-03-06"), want{"0", "0", "124.46", "124.46", "123.46"})
	after := report(sh(1).AddDate(0, 1, 0), sh(1).AddDate(0, 2, 0), backoffice.Monthly)
	check(after.Total, want{"0", "0", "1.00", "1.00", "0"})

	// The operator dashboard's roll-up: the line's consumption is revenue
	// recognised the day it was spent, the bill cash in the day it was paid.
	_, err = b.svc.RefreshAnalytics(b.ctx)
	require.NoError(t, err)
	dash, err := b.svc.Analytics(b.ctx, backoffice.AnalyticsQuery{From: sh(1), To: sh(10), Granularity: backoffice.Daily}, finance)
	require.NoError(t, err)
	rev := dash.Charts[backoffice.ChartRevenue]
	day := func(key, period string) decimal.Decimal {
		t.Helper()
		for _, s := range rev.Series {
			for i, l := range rev.Labels {
				if s.Key == key && l == period {
					return s.Values[i]
				}
			}
		}
		t.Fatalf("no %s on %s", key, period)
		return decimal.Zero
	}
	requireDec(t, "101.00", day("recognised", "2026-03-02"), "the paid lot's ¥1.00 and the line's ¥100.00")
	requireDec(t, "23.46", day("recognised", "2026-03-03"))
	requireDec(t, "123.46", day("cash_in", "2026-03-08"), "the bill paid")

	// A report's own CSV carries the figures.
	var csv bytes.Buffer
	require.NoError(t, backoffice.ReportCSV(&csv, monthly))
	require.Contains(t, csv.String(), "postpaid_recognised_rmb")
	require.Contains(t, csv.String(), "124.46")
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}
