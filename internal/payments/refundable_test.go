package payments_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// TestRefundable: what a customer may ask back is the unspent part of a
// top-up's paid lot, in whole fen, and a refund of exactly that succeeds.
func TestRefundable(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

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
		// The 20,000 bonus goes first, then 60,000.5 of the paid lot's 100,000.
		b.spend(t, acc, "80000.5")
		requireDec(t, "39999.5", b.byKind(t, acc, ledger.LotPaid))
		m, err := b.svc.Refundable(b.ctx, acc, []payments.Order{o})
		require.NoError(t, err)
		require.EqualValues(t, 3999, m[o.OrderNo], "¥39.99 buys 39,990 credits, ¥40.00 would take 40,000")

		_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 4000)
		var le *payments.RefundLimitError
		require.True(t, errors.As(err, &le), "%v", err)
		require.EqualValues(t, 3999, le.MaxFen)
		require.ErrorIs(t, err, payments.ErrRefundExceedsOrder)

		r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 3999, IdempotencyKey: "max"})
		require.NoError(t, err)
		requireDec(t, "39990", r.Credits)
		requireDec(t, "9.5", b.byKind(t, acc, ledger.LotPaid))
		m, err = b.svc.Refundable(b.ctx, acc, []payments.Order{r.Order})
		require.NoError(t, err)
		require.Zero(t, m[o.OrderNo], "9.5 credits buy less than a fen")
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
