package backoffice_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// TestPaidPositionsChangeNoFigure: four months of top-ups at odd prices,
// spending, expiry, refunds (with and without a bonus deduction), a lot used
// to the last credit and a hold left open; every report is computed from the
// whole ledger, then the months are closed (concurrently: each once) and
// every report is computed again from the closed positions. Each figure must
// be equal to the fen, and the used-up lot must be left out of the months
// after it emptied.
func TestPaidPositionsChangeNoFigure(t *testing.T) {
	t.Parallel()
	// 1 January 2024, 00:30 in Shanghai.
	b := setup(t, setupOpts{start: time.Date(2023, 12, 31, 16, 30, 0, 0, time.UTC), own: true})
	finance := b.staff(t, auth.RoleFinance)
	day := 24 * time.Hour
	a, c := b.customer(t).account.ID, b.customer(t).account.ID
	credit := func(acc int64, amount string, fen int64, exp *time.Time) ledger.Lot {
		t.Helper()
		r, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: d(amount), PaidFen: fen,
			ExpiresAt: exp, IdempotencyKey: uniq("k"), Actor: "test"})
		require.NoError(t, err)
		return r.Lot
	}
	charge := func(acc int64, amount string) {
		t.Helper()
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: uniq("c")})
		require.NoError(t, err)
	}
	big := credit(a, "100000", 9999, nil) // ¥99.99 for 100,000 credits: shares round
	small := credit(c, "333", 37, nil)    // used to the last credit in February
	for i := range 110 {                  // to 19 April
		charge(a, "123.456789")
		switch i {
		case 20:
			exp := b.clock.Now().Add(10 * day)
			credit(c, "500", 61, &exp) // partly spent, then expires in February: breakage
			b.credit(t, c, ledger.LotPromo, "40", nil)
		case 25:
			charge(c, "300") // the lot expiring soonest
		case 35:
			_, err := b.l.ExpireDue(b.ctx, 100)
			require.NoError(t, err)
			charge(c, "373") // the promo, then the small lot to its last credit
		case 50:
			_, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: big.ID, Amount: d("1000"), Fen: 100,
				IdempotencyKey: uniq("r"), Actor: "test"})
			require.NoError(t, err)
		case 80:
			_, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: big.ID, Amount: d("777.777777"),
				IdempotencyKey: uniq("r"), Actor: "test"}) // an older refund without its fen
			require.NoError(t, err)
			credit(a, "2000", 200, nil)
		case 100:
			_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: a, Amount: d("55"), IdempotencyKey: uniq("res"), TTL: time.Hour})
			require.NoError(t, err)
		}
		b.clock.Add(day)
	}

	type ranges struct{ from, to time.Time }
	sh := func(m time.Month, dd int) time.Time { return time.Date(2024, m, dd, 0, 0, 0, 0, backoffice.Shanghai) }
	reports := []ranges{{sh(1, 1), sh(5, 1)}, {sh(3, 1), sh(4, 1)}, {sh(3, 10), sh(4, 20)}, {sh(2, 1), sh(2, 2)}}
	compute := func() (out []backoffice.Report, consumed []int64, byMonth []map[string]int64) {
		for _, r := range reports {
			for _, g := range []backoffice.Granularity{backoffice.Daily, backoffice.Monthly} {
				rep, err := b.svc.Revenue(b.ctx, r.from, r.to, g, finance)
				require.NoError(t, err)
				out = append(out, rep)
			}
			for _, acc := range []int64{a, c} {
				fen, err := b.svc.PaidConsumedFen(b.ctx, acc, r.from, r.to)
				require.NoError(t, err)
				consumed = append(consumed, fen)
			}
		}
		for _, acc := range []int64{a, c} {
			m, err := b.svc.PaidConsumedByMonth(b.ctx, acc, sh(1, 1), sh(5, 1))
			require.NoError(t, err)
			byMonth = append(byMonth, m)
		}
		return out, consumed, byMonth
	}
	fullReps, fullFen, fullMonths := compute()

	// Closed concurrently: each month once.
	var wg sync.WaitGroup
	total := make([]int, 8)
	for i := range total {
		wg.Go(func() {
			n, err := b.svc.ClosePaidPositions(b.ctx)
			require.NoError(t, err)
			total[i] = n
		})
	}
	wg.Wait()
	sum := 0
	for _, n := range total {
		sum += n
	}
	require.Equal(t, 3, sum, "February, March and April 1 closed once each (May has not begun)")
	var months int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM revenue_paid_closings`).Scan(&months))
	require.Equal(t, 3, months)
	var smallFeb, smallMar int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FILTER (WHERE through = $2), count(*) FILTER (WHERE through = $3)
		FROM revenue_paid_positions WHERE lot_id = $1`, small.ID, sh(2, 1), sh(3, 1)).Scan(&smallFeb, &smallMar))
	require.Equal(t, []int{1, 0}, []int{smallFeb, smallMar}, "the small lot is open on 1 February, used up by 1 March")

	reps, fen, byMonth := compute()
	require.Equal(t, fullFen, fen, "consumption in fen per account")
	require.Equal(t, fullMonths, byMonth, "consumption by month")
	for i := range reps {
		want, got := fullReps[i], reps[i]
		require.Len(t, got.Rows, len(want.Rows))
		for j := range want.Rows {
			requireSameRow(t, want.Rows[j], got.Rows[j])
		}
		requireSameRow(t, want.Total, got.Total)
	}
}

// requireSameRow compares every figure of two report rows.
func requireSameRow(t *testing.T, want, got backoffice.ReportRow) {
	t.Helper()
	require.Equal(t, want.Period, got.Period)
	for _, pair := range [][2]backoffice.ReportAmounts{{want.Credits, got.Credits}, {want.RMB, got.RMB}} {
		w, g := pair[0], pair[1]
		for _, f := range []struct {
			name string
			w, g string
		}{
			{"purchased", w.PaidPurchased.String(), g.PaidPurchased.String()},
			{"recognised", w.Recognised.String(), g.Recognised.String()},
			{"breakage", w.Breakage.String(), g.Breakage.String()},
			{"refunded", w.PaidRefunded.String(), g.PaidRefunded.String()},
			{"deferred opening", w.DeferredOpening.String(), g.DeferredOpening.String()},
			{"deferred closing", w.DeferredClosing.String(), g.DeferredClosing.String()},
			{"bonus deducted", w.BonusDeducted.String(), g.BonusDeducted.String()},
			{"promo closing", w.PromoClosing.String(), g.PromoClosing.String()},
		} {
			require.Equal(t, f.w, f.g, "%s %s", want.Period, f.name)
		}
	}
}
