package backoffice_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

var reportRuns atomic.Int64

// TestRevenueReport is not parallel: it compares the report's closing
// balances with the whole ledger, so no other test may write meanwhile
// (parallel tests wait until the sequential ones are done).
func TestRevenueReport(t *testing.T) {
	// 1 January 00:30 in Shanghai is still 2023-12-31 in UTC: the first
	// purchase must land on the Shanghai day 2024-01-01.
	// Each run (go test -count) reports on its own year of ledger time.
	year := 2010 + int(reportRuns.Add(1))
	start := time.Date(year-1, 12, 31, 16, 30, 0, 0, time.UTC)
	b := setup(t, setupOpts{start: start})
	finance := b.staff(t, auth.RoleFinance)
	c := b.customer(t)
	acc := c.account.ID
	day := 24 * time.Hour

	// Day 1 (1 January): ¥1,000 top-up, a 100-credit promo grant expiring on day 3.
	b.credit(t, acc, ledger.LotPaid, "1000000", nil)
	promoExp := b.clock.Now().Add(2 * day)
	b.credit(t, acc, ledger.LotPromo, "100", &promoExp)
	// Day 2: usage of 123.456789 credits: the promo lot (expiring soonest) first.
	b.clock.Add(day)
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("123.456789"), IdempotencyKey: uniq("c")})
	require.NoError(t, err)
	// Day 3: a paid lot of 50 expiring on day 4; a promo lot of 30 expiring on day 4.
	b.clock.Add(day)
	paidExp := b.clock.Now().Add(day)
	b.credit(t, acc, ledger.LotPaid, "50", &paidExp)
	b.credit(t, acc, ledger.LotPromo, "30", &paidExp)
	// Day 5: both expire (breakage of 50 paid, 30 promo expired); refund 100 of the top-up.
	b.clock.Add(2 * day)
	for {
		n, err := b.l.ExpireDue(b.ctx, 100)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	lots, err := b.l.Lots(b.ctx, acc)
	require.NoError(t, err)
	_, err = b.l.Refund(b.ctx, ledger.RefundRequest{LotID: lots[0].ID, Amount: d("100"), IdempotencyKey: uniq("r"), Actor: "test"})
	require.NoError(t, err)
	// Day 6: a reservation of 10 stays open (held, still unspent).
	b.clock.Add(day)
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: d("10"), IdempotencyKey: uniq("res"), TTL: time.Hour})
	require.NoError(t, err)

	from := time.Date(year, 1, 1, 0, 0, 0, 0, backoffice.Shanghai)
	to := time.Date(year, 1, 8, 0, 0, 0, 0, backoffice.Shanghai)
	rep, err := b.svc.Revenue(b.ctx, from, to, backoffice.Daily, finance)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 7)
	require.Equal(t, fmt.Sprintf("%d-01-01", year), rep.Rows[0].Period)

	t.Run("PerDayFigures", func(t *testing.T) {
		d1, d2, d5 := rep.Rows[0].Credits, rep.Rows[1].Credits, rep.Rows[4].Credits
		requireDec(t, "1000000", d1.PaidPurchased)
		requireDec(t, "100", d1.PromoGranted)
		requireDec(t, "100", d2.PromoSpent, "promo spent first")
		requireDec(t, "23.456789", d2.Recognised)
		requireDec(t, "50", d5.Breakage)
		requireDec(t, "30", d5.PromoExpired)
		requireDec(t, "100", d5.PaidRefunded)
		for i := 1; i < len(rep.Rows); i++ {
			require.True(t, rep.Rows[i].Credits.DeferredOpening.Equal(rep.Rows[i-1].Credits.DeferredClosing), "days chain")
		}
	})

	t.Run("TotalsReconcileWithTheLedger", func(t *testing.T) {
		tot := rep.Total.Credits
		requireDec(t, "1000050", tot.PaidPurchased)
		requireDec(t, "23.456789", tot.Recognised)
		requireDec(t, "50", tot.Breakage)
		requireDec(t, "100", tot.PaidRefunded)
		requireDec(t, "130", tot.PromoGranted)
		requireDec(t, "100", tot.PromoSpent)
		requireDec(t, "30", tot.PromoExpired)
		// deferred at end = paid purchases − spent − expired − refunded
		requireDec(t, "999876.543211", tot.DeferredClosing.Sub(tot.DeferredOpening))
		requireDec(t, "0", tot.PromoClosing.Sub(tot.PromoOpening))

		// The account's own position, from its lots and its open hold.
		bal := b.balance(t, acc)
		requireDec(t, "999866.543211", bal.ByKind[ledger.LotPaid])
		requireDec(t, "10", bal.Reserved)

		// RMB: each total × ¥0.001, rounded to the fen once.
		requireDec(t, "0.02", rep.Total.RMB.Recognised, "23.456789 credits = ¥0.023456789")
		requireDec(t, "1000.05", rep.Total.RMB.PaidPurchased)
		requireDec(t, "0.10", rep.Total.RMB.PaidRefunded)
		requireDec(t, ledger.RMBForCredits(tot.DeferredClosing, ledger.DefaultCreditPriceRMB).String(), rep.Total.RMB.DeferredClosing)
	})

	t.Run("ClosingBalancesEqualTheWholeLedger", func(t *testing.T) {
		far, err := b.svc.Revenue(b.ctx, from, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), backoffice.Monthly, finance)
		require.NoError(t, err)
		// Unspent credit by kind in every live pool: what lots still hold
		// plus what open reservations hold from them.
		const q = `
WITH held AS (
  SELECT (h->>'lot')::bigint AS lot_id, sum((h->>'amount')::numeric) AS amount
  FROM ledger_reservations r, jsonb_array_elements(r.holds) h WHERE r.status = 'open' GROUP BY 1)
SELECT coalesce(sum(l.remaining + coalesce(held.amount, 0)) FILTER (WHERE l.kind = 'paid'), 0),
       coalesce(sum(l.remaining + coalesce(held.amount, 0)) FILTER (WHERE l.kind NOT IN ('paid', 'plan', 'credit')), 0)
FROM ledger_lots l JOIN ledger_accounts p ON p.id = l.pool_id AND p.mode = 'live'
LEFT JOIN held ON held.lot_id = l.id`
		var paid, promo decimal.Decimal
		require.NoError(t, b.pool.QueryRow(b.ctx, q).Scan(&paid, &promo))
		require.Truef(t, far.Total.Credits.DeferredClosing.Equal(paid), "deferred %s, ledger %s", far.Total.Credits.DeferredClosing, paid)
		require.Truef(t, far.Total.Credits.PromoClosing.Equal(promo), "promo %s, ledger %s", far.Total.Credits.PromoClosing, promo)
		require.Truef(t, far.Total.RMB.DeferredClosing.Equal(ledger.RMBForCredits(paid, ledger.DefaultCreditPriceRMB)), "to the fen")
		require.Equal(t, fmt.Sprintf("%d-01", year), far.Rows[0].Period)
		requireDec(t, "1000050", far.Rows[0].Credits.PaidPurchased.Sub(decimal.Zero))
	})

	t.Run("MonthlyEqualsSumOfDays", func(t *testing.T) {
		m, err := b.svc.Revenue(b.ctx, from, to, backoffice.Monthly, finance)
		require.NoError(t, err)
		require.Len(t, m.Rows, 1)
		require.Equal(t, rep.Total.Credits.Recognised.String(), m.Rows[0].Credits.Recognised.String())
		require.Equal(t, rep.Total.Credits.PaidPurchased.String(), m.Rows[0].Credits.PaidPurchased.String())
	})

	t.Run("CSV", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, backoffice.ReportCSV(&buf, rep))
		s := buf.String()
		require.True(t, strings.HasPrefix(s, "\uFEFFperiod"))
		require.Contains(t, s, fmt.Sprintf("\n%d-01-02,", year))
		require.Contains(t, s, "23.456789,0.02")
		require.Contains(t, s, "\ntotal,1000050.000000,1000.05,")
	})

	t.Run("SupportCannotRead", func(t *testing.T) {
		_, err := b.svc.Revenue(b.ctx, from, to, backoffice.Daily, b.staff(t, auth.RoleSupport))
		require.ErrorIs(t, err, backoffice.ErrForbidden)
	})
}
