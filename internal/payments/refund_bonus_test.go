package payments_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// revocation is one event on a bonus lot written by a refund.
type revocation struct {
	Type       string          `db:"type"`
	ReasonCode string          `db:"reason_code"`
	Amount     decimal.Decimal `db:"amount"`
	OpID       int64           `db:"op_id"`
}

// revocations lists the refund_bonus events of a lot, oldest first.
func (b *testBundle) revocations(t *testing.T, lotID int64) []revocation {
	t.Helper()
	rows, _ := b.pool.Query(b.ctx, `SELECT type::text, reason_code, amount, op_id FROM ledger_events
WHERE lot_id = $1 AND reason_code = 'refund_bonus' ORDER BY id`, lotID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[revocation])
	require.NoError(t, err)
	return out
}

// TestRefundTakesBackBonus: a ¥100 top-up with its 20 % bonus (20,000 promo
// credits beside 100,000 paid ones) refunded in part or in full takes back
// the same share of the bonus: the unspent part is revoked in the refund's
// own ledger operation (an expiry event, reason refund_bonus), and what was
// already spent is deducted from the money at the price paid (¥0.001).
func TestRefundTakesBackBonus(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	refund := func(t *testing.T, acc int64, o payments.Order, fen int64, key string) payments.Refund {
		t.Helper()
		r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: fen, Reason: "customer request", Actor: "staff:1", IdempotencyKey: key})
		require.NoError(t, err)
		return r
	}
	quote := func(t *testing.T, acc int64, o payments.Order) payments.RefundQuote {
		t.Helper()
		q, err := b.svc.RefundQuotes(b.ctx, acc, []payments.Order{b.order(t, o)})
		require.NoError(t, err)
		return q[o.OrderNo]
	}

	t.Run("Full", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelWeChat)
		requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))

		q := quote(t, acc, o)
		require.EqualValues(t, 10000, q.Fen)
		requireDec(t, "20000", q.BonusRevoked)
		require.Zero(t, q.BonusFen)

		r := refund(t, acc, o, 10000, "all")
		requireDec(t, "100000", r.Credits)
		requireDec(t, "20000", r.BonusRevoked)
		require.True(t, r.BonusCharged.IsZero())
		require.Zero(t, r.BonusFen)
		require.Equal(t, payments.StateRefunded, r.Order.State)
		require.True(t, b.byKind(t, acc, ledger.LotPaid).IsZero())
		require.True(t, b.byKind(t, acc, ledger.LotPromo).IsZero(), "the bonus went with the refund")

		rev := b.revocations(t, *o.PromoLotID)
		require.Len(t, rev, 1)
		require.Equal(t, "expiry", rev[0].Type)
		require.Equal(t, ledger.ReasonRefundBonus, rev[0].ReasonCode)
		requireDec(t, "-20000", rev[0].Amount)
		require.Equal(t, r.LedgerOp, rev[0].OpID, "revoked in the refund's own ledger operation")
		b.verifyClean(t)
	})

	t.Run("Partial", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelAlipay)
		r := refund(t, acc, o, 3000, "p1")
		requireDec(t, "30000", r.Credits)
		requireDec(t, "6000", r.BonusRevoked, "30 % of the paid lot takes 30 % of the bonus")
		require.Zero(t, r.BonusFen)
		require.Equal(t, payments.StatePartiallyRefunded, r.Order.State)
		requireDec(t, "70000", b.byKind(t, acc, ledger.LotPaid))
		requireDec(t, "14000", b.byKind(t, acc, ledger.LotPromo))

		q := quote(t, acc, o)
		require.EqualValues(t, 7000, q.Fen)
		requireDec(t, "14000", q.BonusRevoked)

		r = refund(t, acc, o, 7000, "p2")
		requireDec(t, "70000", r.Credits)
		requireDec(t, "14000", r.BonusRevoked)
		require.Equal(t, payments.StateRefunded, r.Order.State)
		require.True(t, b.byKind(t, acc, ledger.LotPromo).IsZero())
		require.Len(t, b.revocations(t, *o.PromoLotID), 2)
		b.verifyClean(t)
	})

	t.Run("BonusAlreadySpent", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelWeChat)
		// The bonus expires in 90 days, the paid lot never: 15,000 of the
		// bonus goes first, 5,000 stays.
		b.spend(t, acc, "15000")
		requireDec(t, "5000", b.byKind(t, acc, ledger.LotPromo))
		requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))

		// Refunding everything takes back all 20,000: 5,000 revoked, 15,000
		// spent paid for at ¥0.001 = ¥15.00, so ¥85.00 goes back.
		q := quote(t, acc, o)
		require.EqualValues(t, 8500, q.Fen)
		require.EqualValues(t, 10000, q.GrossFen)
		require.EqualValues(t, 1500, q.BonusFen)
		requireDec(t, "100000", q.Credits)
		requireDec(t, "20000", q.BonusCredits)
		requireDec(t, "5000", q.BonusRevoked)
		requireDec(t, "15000", q.BonusCharged)
		_, err := b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 8501)
		var le *payments.RefundLimitError
		require.ErrorAs(t, err, &le)
		require.EqualValues(t, 8500, le.MaxFen)

		// ¥40 back: 43,750 paid credits (¥43.75 of the top-up) take 8,750
		// of the bonus: the 5,000 left, and 3,750 spent = ¥3.75.
		r := refund(t, acc, o, 4000, "s1")
		requireDec(t, "43750", r.Credits)
		requireDec(t, "5000", r.BonusRevoked)
		requireDec(t, "3750", r.BonusCharged)
		require.EqualValues(t, 375, r.BonusFen)
		require.EqualValues(t, 4000, r.AmountFen)
		require.EqualValues(t, 4000, r.Order.RefundedFen)
		require.EqualValues(t, 375, r.Order.BonusDeductedFen)
		requireDec(t, "56250", b.byKind(t, acc, ledger.LotPaid))
		require.True(t, b.byKind(t, acc, ledger.LotPromo).IsZero())

		// The rest: 56,250 credits, ¥56.25, take the other 11,250 of the
		// bonus, all spent: ¥11.25 deducted, ¥45.00 back — ¥85.00 in all,
		// as at once.
		q = quote(t, acc, o)
		require.EqualValues(t, 4500, q.Fen)
		r = refund(t, acc, o, 4500, "s2")
		requireDec(t, "56250", r.Credits)
		require.True(t, r.BonusRevoked.IsZero())
		requireDec(t, "11250", r.BonusCharged)
		require.EqualValues(t, 1125, r.BonusFen)
		require.Equal(t, payments.StateRefunded, r.Order.State, "¥85.00 back + ¥15.00 kept = the order")
		require.EqualValues(t, 8500, r.Order.RefundedFen)
		require.EqualValues(t, 1500, r.Order.BonusDeductedFen)
		require.True(t, b.byKind(t, acc, ledger.LotPaid).IsZero())

		refunds, err := b.svc.Refunds(b.ctx, o.ID)
		require.NoError(t, err)
		require.Len(t, refunds, 2)
		rf, err := b.wx.QueryRefund(b.ctx, refunds[1].RefundNo)
		require.NoError(t, err)
		require.EqualValues(t, 4500, rf.Amount.Refund, "the channel paid back the net amount")
		b.verifyClean(t)
	})

	t.Run("ExpiredBonusIsNotCharged", func(t *testing.T) {
		// A database of its own: the expiry sweep runs over every pool, and
		// 91 days on it would expire the other tests' bonus lots.
		own := setup(t, setupOpts{ownDB: true})
		acc := own.account(t)
		o := own.paid(t, acc, 10000, payments.ChannelAlipay)
		own.clock.Add(91 * 24 * time.Hour)
		n, err := own.l.ExpireDue(own.ctx, 100)
		require.NoError(t, err)
		require.Positive(t, n)
		q, err := own.svc.RefundQuotes(own.ctx, acc, []payments.Order{own.order(t, o)})
		require.NoError(t, err)
		require.EqualValues(t, 10000, q[o.OrderNo].Fen, "the bonus expired unused: nothing to revoke, nothing to charge")
		r, err := own.svc.Refund(own.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 10000, IdempotencyKey: "x"})
		require.NoError(t, err)
		require.True(t, r.BonusRevoked.IsZero())
		require.True(t, r.BonusCharged.IsZero())
		require.Equal(t, payments.StateRefunded, r.Order.State)
		own.verifyClean(t)
	})

	t.Run("HeldBonusCountsAsSpent", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelWeChat)
		res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: d("2000"), IdempotencyKey: t.Name(), TTL: time.Hour})
		require.NoError(t, err)
		q := quote(t, acc, o)
		require.EqualValues(t, 9800, q.Fen, "2,000 bonus credits held by a call are paid for")
		requireDec(t, "18000", q.BonusRevoked)
		_, err = b.l.Release(b.ctx, res.ID)
		require.NoError(t, err)
		require.EqualValues(t, 10000, quote(t, acc, o).Fen, "released: nothing spent")
	})
}

// TestPaidLotRecordsItsPrice: the paid lot of a QR order and of a bank
// transfer order records what was paid for it, so the revenue report
// values it at that price whatever CREDIT_PRICE_RMB becomes; the bonus lot
// records none (it was not paid for).
func TestPaidLotRecordsItsPrice(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: payments.Options{CreditPriceRMB: d("0.003")}})
	acc := b.account(t)
	qr := b.paid(t, acc, 10000, payments.ChannelAlipay)
	tr, err := b.svc.CreateTransferOrder(b.ctx, acc, 4567)
	require.NoError(t, err)
	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.svc.CompleteTransferOrder(b.ctx, tx, tr.ID, "BOC-"+t.Name(), "staff:1")
		return err
	})
	require.NoError(t, err)
	tr = b.order(t, tr)

	byID := map[int64]ledger.Lot{}
	for _, l := range b.lots(t, acc) {
		byID[l.ID] = l
	}
	for _, c := range []struct {
		o       payments.Order
		fen     int64
		credits string
	}{{qr, 10000, "33333.333333"}, {tr, 4567, "15223.333333"}} {
		lot := byID[*c.o.PaidLotID]
		require.NotNil(t, lot.PaidFen, c.o.OrderNo)
		require.Equal(t, c.fen, *lot.PaidFen)
		requireDec(t, c.credits, lot.Amount)
	}
	require.Nil(t, byID[*qr.PromoLotID].PaidFen)
}
