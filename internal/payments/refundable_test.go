package payments_test

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestRefundable: what a customer may ask back is the unspent part of a
// top-up's paid lot, in whole fen, and a refund of exactly that succeeds.
// No bonus here: see TestRefundTakesBackBonus.
func TestRefundable(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: payments.Options{Bonus: map[int64]decimal.Decimal{}}})

	t.Run("UnspentTopUpRefundsInFull", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelWeChat)
		m, err := b.svc.Refundable(b.ctx, acc, []payments.Order{o})
		require.NoError(t, err)
		require.Equal(t, map[string]int64{o.OrderNo: 10000}, m)
		_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 10000)
		require.NoError(t, err)
		r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 10000, IdempotencyKey: "all"})
		require.NoError(t, err)
		require.Equal(t, payments.StateRefunded, r.Order.State)
		m, err = b.svc.Refundable(b.ctx, acc, []payments.Order{r.Order})
		require.NoError(t, err)
		require.Zero(t, m[o.OrderNo])
		_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 1)
		require.ErrorIs(t, err, payments.ErrNotRefundable)
	})

	t.Run("SpentCreditIsNotRefundable", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelAlipay)
		b.spend(t, acc, "60000.5")
		requireDec(t, "39999.5", b.byKind(t, acc, ledger.LotPaid))
		m, err := b.svc.Refundable(b.ctx, acc, []payments.Order{o})
		require.NoError(t, err)
		require.EqualValues(t, 4000, m[o.OrderNo], "60,000.5 credits used are worth ¥60.00 (¥60.0005, to the fen): ¥40.00 is left")

		_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 4001)
		var le *payments.RefundLimitError
		require.True(t, errors.As(err, &le), "%v", err)
		require.EqualValues(t, 4000, le.MaxFen)
		require.ErrorIs(t, err, payments.ErrRefundExceedsOrder)

		r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 3999, IdempotencyKey: "part"})
		require.NoError(t, err)
		requireDec(t, "39990", r.Credits)
		requireDec(t, "9.5", b.byKind(t, acc, ledger.LotPaid))
		m, err = b.svc.Refundable(b.ctx, acc, []payments.Order{r.Order})
		require.NoError(t, err)
		require.EqualValues(t, 1, m[o.OrderNo], "the last 9.5 credits take the last fen")
		r, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 1, IdempotencyKey: "rest"})
		require.NoError(t, err)
		requireDec(t, "9.5", r.Credits)
		require.True(t, b.byKind(t, acc, ledger.LotPaid).IsZero())
		require.Equal(t, payments.StatePartiallyRefunded, r.Order.State, "¥60.00 of it was used")
		m, err = b.svc.Refundable(b.ctx, acc, []payments.Order{r.Order})
		require.NoError(t, err)
		require.Zero(t, m[o.OrderNo])
	})

	t.Run("UnpaidAndForeignOrders", func(t *testing.T) {
		acc := b.account(t)
		open, err := b.svc.CreateTransferOrder(b.ctx, acc, 50000)
		require.NoError(t, err)
		_, err = b.svc.CheckRefund(b.ctx, acc, open.OrderNo, 100)
		require.ErrorIs(t, err, payments.ErrNotRefundable)
		_, err = b.svc.CheckRefund(b.ctx, b.account(t), open.OrderNo, 100)
		require.ErrorIs(t, err, payments.ErrNotFound)
		_, err = b.svc.CheckRefund(b.ctx, acc, open.OrderNo, 0)
		require.ErrorIs(t, err, payments.ErrInvalidArgument)
	})
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}
