package payments_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// paid makes and pays a QR order through the sandbox.
func (b *testBundle) paid(t *testing.T, acc, fen int64, ch payments.Channel) payments.Order {
	t.Helper()
	o, err := b.svc.CreateQROrder(b.ctx, acc, fen, ch)
	require.NoError(t, err)
	require.True(t, b.confirm(t, o).Acked)
	o = b.order(t, o)
	require.Equal(t, payments.StatePaid, o.State)
	return o
}

func (b *testBundle) spend(t *testing.T, acc int64, amount string) {
	t.Helper()
	r, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: t.Name() + amount, Model: "test"})
	require.NoError(t, err)
	require.True(t, r.Unpaid.IsZero())
}

// TestRefund refunds the unconsumed part of a partly spent top-up through
// the channel, never more than the paid lot has left. No bonus here: see
// TestRefundTakesBackBonus.
func TestRefund(t *testing.T) {
	t.Parallel()
	var refuse error
	b := setup(t, setupOpts{opts: payments.Options{Bonus: map[int64]decimal.Decimal{},
		BeforeRefund: func(ctx context.Context, tx pgx.Tx, o payments.Order, _ int64) error { return refuse }}})

	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		t.Run(string(ch), func(t *testing.T) {
			acc := b.account(t)
			o := b.paid(t, acc, 10000, ch)
			b.spend(t, acc, "60000")
			requireDec(t, "40000", b.byKind(t, acc, ledger.LotPaid))

			r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 3000, Reason: "customer request", Actor: "staff:1", IdempotencyKey: "r1"})
			require.NoError(t, err)
			require.Equal(t, payments.RefundDone, r.State)
			requireDec(t, "30000", r.Credits)
			require.Equal(t, payments.StatePartiallyRefunded, r.Order.State)
			require.EqualValues(t, 3000, r.Order.RefundedFen)
			requireDec(t, "10000", b.byKind(t, acc, ledger.LotPaid))

			again, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 3000, IdempotencyKey: "r1"})
			require.NoError(t, err)
			require.True(t, again.Replayed)
			require.Equal(t, r.RefundNo, again.RefundNo)
			_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 2000, IdempotencyKey: "r1"})
			require.ErrorIs(t, err, payments.ErrIdempotencyConflict)

			// ¥20 would take 20,000 credits; only 10,000 (¥10) are left unspent.
			_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 2000, IdempotencyKey: "r2"})
			var le *payments.RefundLimitError
			require.ErrorAs(t, err, &le)
			require.EqualValues(t, 1000, le.MaxFen)
			_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 7001, IdempotencyKey: "r3"})
			require.ErrorIs(t, err, payments.ErrRefundExceedsOrder)
			_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: b.account(t), OrderNo: o.OrderNo, AmountFen: 100, IdempotencyKey: "r4"})
			require.ErrorIs(t, err, payments.ErrNotFound)
			refuse = errors.New("red-letter invoice first")
			_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 100, IdempotencyKey: "r5"})
			require.ErrorIs(t, err, refuse)
			refuse = nil

			got := b.order(t, o)
			require.EqualValues(t, 3000, got.RefundedFen, "refused refunds changed nothing")
			requireDec(t, "10000", b.byKind(t, acc, ledger.LotPaid))
			refunds, err := b.svc.Refunds(b.ctx, o.ID)
			require.NoError(t, err)
			require.Len(t, refunds, 1)

			// The channel has exactly the one refund.
			if ch == payments.ChannelWeChat {
				rf, err := b.wx.QueryRefund(b.ctx, r.RefundNo)
				require.NoError(t, err)
				require.EqualValues(t, 3000, rf.Amount.Refund)
			}

			// The rest of the unspent credit: ¥10 → refunded lot at zero.
			r2, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 1000, IdempotencyKey: "r6"})
			require.NoError(t, err)
			require.Equal(t, payments.StatePartiallyRefunded, r2.Order.State)
			require.True(t, b.byKind(t, acc, ledger.LotPaid).IsZero())

			top, err := b.svc.PaidTopUps(b.ctx, acc)
			require.NoError(t, err)
			require.EqualValues(t, 4000, top[0].RefundedFen)
		})
	}

	t.Run("Full", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 3000, payments.ChannelWeChat)
		r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 1000, IdempotencyKey: "a"})
		require.NoError(t, err)
		requireDec(t, "10000", r.Credits)
		r, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 2000, IdempotencyKey: "b"})
		require.NoError(t, err)
		require.Equal(t, payments.StateRefunded, r.Order.State)
		require.True(t, b.byKind(t, acc, ledger.LotPaid).IsZero())
		_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 1, IdempotencyKey: "c"})
		require.ErrorIs(t, err, payments.ErrNotRefundable)
		require.Equal(t, []string{"->created:create", "created>pending:qr_created", "pending>paid:notify",
			"paid>partially_refunded:refund", "partially_refunded>refunded:refund"}, b.causes(t, o))
	})

	t.Run("Unpaid", func(t *testing.T) {
		acc := b.account(t)
		o, err := b.svc.CreateQROrder(b.ctx, acc, 3000, payments.ChannelAlipay)
		require.NoError(t, err)
		_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 100, IdempotencyKey: "a"})
		require.ErrorIs(t, err, payments.ErrNotRefundable)
		closed, err := b.svc.CloseOrder(b.ctx, acc, o.OrderNo)
		require.NoError(t, err)
		require.Equal(t, payments.StateClosed, closed.State)
	})
	b.verifyClean(t)
}
