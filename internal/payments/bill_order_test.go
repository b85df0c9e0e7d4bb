package payments_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// billBundle is a payments service wired to real credit lines, as
// app.Build wires them; the lines' clock runs ahead of the payments' by
// lineAhead, so a billing period can close while the channels' signatures
// stay valid.
type billBundle struct {
	*testBundle
	lines     *creditline.Service
	lineAhead atomic.Int64
}

func setupBills(t *testing.T) *billBundle {
	t.Helper()
	bb := &billBundle{}
	opts := payments.Options{
		BillOffer: func(ctx context.Context, accountID, billID int64) (payments.BillOffer, error) {
			b, err := bb.lines.Bill(ctx, accountID, billID)
			if err != nil {
				return payments.BillOffer{}, err
			}
			if !b.Unpaid() {
				return payments.BillOffer{}, fmt.Errorf("%w: %w", payments.ErrBillSettled, creditline.ErrBillPaid)
			}
			return payments.BillOffer{BillID: b.ID, AmountFen: b.AmountFen}, nil
		},
		BillPaid: func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
			_, err := bb.lines.PayTx(ctx, tx, creditline.Payment{BillID: o.BillID, Via: creditline.PaidByQR, Ref: o.OrderNo,
				Actor: "payments:" + string(o.Channel)})
			if errors.Is(err, creditline.ErrBillPaid) {
				return fmt.Errorf("%w: %w", payments.ErrBillSettled, err)
			}
			return err
		},
	}
	bb.testBundle = setup(t, setupOpts{opts: opts})
	bb.lines = creditline.New(bb.pool, bb.l, creditline.Options{Now: func() time.Time {
		return bb.clock.Now().Add(time.Duration(bb.lineAhead.Load()))
	}})
	return bb
}

// billed grants an enterprise a ¥1,000 line, spends 123,450 credits of it
// (¥123.45 at the default price) and closes the period: one open bill.
func (bb *billBundle) billed(t *testing.T) (int64, creditline.Bill) {
	t.Helper()
	acc, err := bb.l.CreateAccount(bb.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: t.Name()})
	require.NoError(t, err)
	bb.lineAhead.Store(0)
	err = pgx.BeginFunc(bb.ctx, bb.pool, func(tx pgx.Tx) error {
		_, err := bb.lines.SetLineTx(bb.ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5},
			"staff:1", "contract", nil)
		return err
	})
	require.NoError(t, err)
	_, err = bb.l.Charge(bb.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("123450"), IdempotencyKey: t.Name() + ":charge", Model: "test"})
	require.NoError(t, err)
	bb.lineAhead.Store(int64(40 * 24 * time.Hour))
	b, closed, err := bb.lines.CloseLine(bb.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.Equal(t, int64(12345), b.AmountFen)
	return acc.ID, b
}

func (bb *billBundle) bill(t *testing.T, acc, id int64) creditline.Bill {
	t.Helper()
	b, err := bb.lines.Bill(bb.ctx, acc, id)
	require.NoError(t, err)
	return b
}

// TestBillOrderPaysTheBillOnce: a bill order is for exactly the bill's fen
// and credits nothing; the sandbox's notify pays the bill in the payment's
// transaction (the line restored, no paid lot, not a top-up for invoices);
// the same notify delivered again and 64 concurrent reports pay it once,
// and a new order for the paid bill is refused.
func TestBillOrderPaysTheBillOnce(t *testing.T) {
	t.Parallel()
	bb := setupBills(t)
	acc, bill := bb.billed(t)
	bal, err := bb.l.Balance(bb.ctx, acc)
	require.NoError(t, err)
	requireDec(t, "123450", bal.LineUsed())

	o, _, err := bb.svc.CreateBillOrder(bb.ctx, acc, bill.ID, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, payments.PurposeBill, o.Purpose)
	require.Equal(t, bill.ID, o.BillID)
	require.Equal(t, int64(12345), o.AmountFen, "exactly the bill's fen")
	require.True(t, o.Credits.IsZero())
	require.Equal(t, payments.StatePending, o.State)
	resp, err := http.Get(bb.simURL + "/pay/wechat/" + o.OrderNo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(page), "月结账单 ¥123.45", "the payer's app names the bill")

	bb.confirm(t, o)
	o = bb.order(t, o)
	require.Equal(t, payments.StatePaid, o.State)
	paid := bb.bill(t, acc, bill.ID)
	require.Equal(t, creditline.StatusPaid, paid.Status)
	require.Equal(t, creditline.PaidByQR, paid.PaidVia)
	require.Equal(t, o.OrderNo, paid.PaidRef)
	bal, err = bb.l.Balance(bb.ctx, acc)
	require.NoError(t, err)
	requireDec(t, "0", bal.LineUsed(), "the line is restored")
	for _, lot := range bb.lots(t, acc) {
		require.Equal(t, ledger.LotCredit, lot.Kind, "a bill order credits no lot")
	}
	tops, err := bb.svc.PaidTopUps(bb.ctx, acc)
	require.NoError(t, err)
	require.Empty(t, tops, "a bill order is not invoiceable as a top-up")
	inv, err := bb.svc.Invoicing().PaidTopUps(bb.ctx, bb.pool, acc)
	require.NoError(t, err)
	require.Empty(t, inv)

	// The same notify again, then 64 concurrent reports: nothing more.
	n := bb.notify.last(t, payments.NotifyPathWeChat)
	req, err := http.NewRequest(http.MethodPost, bb.notifyURL+payments.NotifyPathWeChat, bytes.NewReader(n.Body))
	require.NoError(t, err)
	req.Header = n.Header.Clone()
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
	p := payments.ChannelPayment{Channel: o.Channel, OutTradeNo: o.OrderNo, ChannelTradeNo: o.ChannelTradeNo,
		State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: o.AmountFen, MerchantID: bb.wx.MchID, AppID: bb.wx.AppID}
	var wg sync.WaitGroup
	var dups atomic.Int32
	for range 64 {
		wg.Go(func() {
			out, err := bb.svc.ApplyChannelPayment(bb.ctx, p, payments.CauseNotify)
			require.NoError(t, err)
			if out.Result == payments.ResultDuplicate {
				dups.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(64), dups.Load())
	var restores int
	require.NoError(t, bb.pool.QueryRow(bb.ctx, `SELECT count(*) FROM ledger_event_view WHERE pool_id = $1 AND type = 'credit_restore'`,
		acc).Scan(&restores))
	require.Equal(t, 1, restores, "the line was restored once")
	require.Equal(t, o.OrderNo, bb.bill(t, acc, bill.ID).PaidRef)

	_, _, err = bb.svc.CreateBillOrder(bb.ctx, acc, bill.ID, payments.ChannelAlipay, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrBillSettled, "a paid bill takes no new order")
	_, _, err = bb.svc.CreateBillOrder(bb.ctx, acc, bill.ID, payments.ChannelBankTransfer, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrChannelUnavailable, "a transfer carries the bill's reference code instead")
	bb.verifyClean(t)
	m, err := bb.lines.Verify(bb.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestBillOrderPaidTwiceGoesToReview: two orders for one bill both paid —
// the first pays the bill (and unfreezes the account the bill froze), the
// second goes to review as bill_paid without touching the line, and
// rejecting the review refunds it at the channel.
func TestBillOrderPaidTwiceGoesToReview(t *testing.T) {
	t.Parallel()
	bb := setupBills(t)
	acc, bill := bb.billed(t)
	first, _, err := bb.svc.CreateBillOrder(bb.ctx, acc, bill.ID, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	second, _, err := bb.svc.CreateBillOrder(bb.ctx, acc, bill.ID, payments.ChannelAlipay, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)

	// Past the grace period the bill freezes the account.
	bb.lineAhead.Store(int64(60 * 24 * time.Hour))
	_, err = bb.lines.Advance(bb.ctx)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusFrozen, bb.bill(t, acc, bill.ID).Status)
	frozen, err := ledger.Frozen(bb.ctx, bb.pool, acc)
	require.NoError(t, err)
	require.True(t, frozen)

	bb.confirm(t, first)
	require.Equal(t, payments.StatePaid, bb.order(t, first).State)
	frozen, err = ledger.Frozen(bb.ctx, bb.pool, acc)
	require.NoError(t, err)
	require.False(t, frozen, "paying the bill that froze the account unfreezes it")

	bb.confirm(t, second)
	second = bb.order(t, second)
	require.Equal(t, payments.StateNeedsReview, second.State)
	require.Equal(t, payments.ReviewBillPaid, second.ReviewReason)
	require.Equal(t, first.OrderNo, bb.bill(t, acc, bill.ID).PaidRef, "the bill stays paid by the first order")
	var restores int
	require.NoError(t, bb.pool.QueryRow(bb.ctx, `SELECT count(*) FROM ledger_event_view WHERE pool_id = $1 AND type = 'credit_restore'`,
		acc).Scan(&restores))
	require.Equal(t, 1, restores)

	second, err = bb.svc.ResolveReview(bb.ctx, second.OrderNo, false, "staff:1", "paid twice")
	require.NoError(t, err)
	require.Equal(t, payments.StateClosed, second.State)
	require.Contains(t, bb.causes(t, second), "needs_review>closed:"+payments.CauseReviewRejected)
	bb.verifyClean(t)
}
