package backoffice_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/reconcile"
)

// ourOrders stands in for payments' records of one channel day.
type ourOrders []reconcile.OrderRecord

func (o ourOrders) OrderRecords(ctx context.Context, ch reconcile.Channel, from, to time.Time) ([]reconcile.OrderRecord, error) {
	return o, nil
}

func TestChannelReconciliation(t *testing.T) {
	t.Parallel()
	// The bill (reconcile's testdata) holds A 100.00, B 300.00, C 30.00 and a
	// refund RF20240305Z1 of 40.00 on TOPUP20240301Z.
	ours := ourOrders{
		{Channel: reconcile.WeChatPay, OutTradeNo: "TOPUP20240305A", Amount: d("100.00"), Status: reconcile.BillPaid},
		{Channel: reconcile.WeChatPay, OutTradeNo: "TOPUP20240305B", Amount: d("299.00"), Status: reconcile.BillPaid},
		{Channel: reconcile.WeChatPay, OutTradeNo: "TOPUP20240305D", Amount: d("50.00"), Status: reconcile.BillPaid},
		{Channel: reconcile.WeChatPay, OutTradeNo: "TOPUP20240301Z", RefundNo: "RF20240305Z1", Amount: d("40.00"), Status: reconcile.BillRefund},
	}
	b := setup(t, setupOpts{channel: ours})
	finance := b.staff(t, auth.RoleFinance)
	// only this test reconciles WeChat Pay; start from no differences on each run
	_, err := b.pool.Exec(b.ctx, `DELETE FROM channel_differences WHERE channel = 'wechat'`)
	require.NoError(t, err)

	open := func() *os.File {
		f, err := os.Open("../reconcile/testdata/wechat_all.csv")
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		return f
	}
	res, err := b.svc.ImportChannelBill(b.ctx, open(), "wechat_all.csv", finance)
	require.NoError(t, err)
	require.Equal(t, reconcile.WeChatPay, res.Channel)
	require.Equal(t, time.Date(2024, 3, 5, 0, 0, 0, 0, backoffice.Shanghai).UTC(), res.From)
	require.Equal(t, map[backoffice.DifferenceKind]int{backoffice.OnlyChannel: 1, backoffice.OnlyOurs: 1, backoffice.AmountDiffers: 1}, res.New)
	byKind := map[backoffice.DifferenceKind]backoffice.Difference{}
	for _, x := range res.Differences {
		byKind[x.Kind] = x
	}
	require.Equal(t, "TOPUP20240305C", byKind[backoffice.OnlyChannel].OutTradeNo)
	require.Equal(t, "TOPUP20240305D", byKind[backoffice.OnlyOurs].OutTradeNo)
	require.Equal(t, "TOPUP20240305B", byKind[backoffice.AmountDiffers].OutTradeNo)
	requireNullDec(t, "300.00", byKind[backoffice.AmountDiffers].ChannelAmount)
	requireNullDec(t, "299.00", byKind[backoffice.AmountDiffers].OurAmount)

	again, err := b.svc.ImportChannelBill(b.ctx, open(), "wechat_all.csv", finance)
	require.NoError(t, err)
	require.Empty(t, again.New, "a re-import stores no new differences")
	require.Len(t, again.Differences, 3)

	id := byKind[backoffice.OnlyChannel].ID
	require.ErrorIs(t, b.svc.ResolveDifference(b.ctx, id, "", finance), backoffice.ErrReasonRequired)
	require.ErrorIs(t, b.svc.ResolveDifference(b.ctx, id, "x", b.staff(t, auth.RoleSupport)), backoffice.ErrForbidden)
	require.NoError(t, b.svc.ResolveDifference(b.ctx, id, "notify lost; order completed by hand", finance))
	require.ErrorIs(t, b.svc.ResolveDifference(b.ctx, id, "again", finance), backoffice.ErrDifferenceResolved)
	open2, err := b.svc.Differences(b.ctx, backoffice.DifferenceFilter{Channel: reconcile.WeChatPay, State: "open"})
	require.NoError(t, err)
	require.Len(t, open2, 2)

	rows := b.auditFor(t, backoffice.AuditFilter{ActorID: finance.User.ID, Action: backoffice.ActionDifferenceResolved})
	require.Len(t, rows, 1)
	require.Equal(t, "notify lost; order completed by hand", rows[0].Reason)
	require.Contains(t, string(rows[0].Detail), "TOPUP20240305C")
}

func TestRefundRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)
	c := b.customer(t)
	b.credit(t, c.account.ID, ledger.LotPaid, "100000", nil) // ¥100
	b.credit(t, c.account.ID, ledger.LotPromo, "5000", nil)  // promo is not refundable

	_, err := b.svc.RequestRefund(b.ctx, c.account.ID, "ORD1", d("100.01"), "no longer needed", "198.51.100.1")
	require.ErrorIs(t, err, backoffice.ErrRefundExceedsPaid, "only unconsumed paid credit")
	_, err = b.svc.RequestRefund(b.ctx, c.account.ID, "ORD1", d("1.001"), "x", "")
	require.ErrorIs(t, err, backoffice.ErrInvalidAmount)

	r, err := b.svc.RequestRefund(b.ctx, c.account.ID, "ORD1", d("60.00"), "no longer needed", "198.51.100.1")
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundRequested, r.State)
	_, err = b.svc.RequestRefund(b.ctx, c.account.ID, "ORD1", d("10.00"), "again", "")
	require.ErrorIs(t, err, backoffice.ErrRefundPending)

	_, err = b.svc.ApproveRefund(b.ctx, r.ID, b.staff(t, auth.RoleSupport))
	require.ErrorIs(t, err, backoffice.ErrForbidden)
	a, err := b.svc.ApproveRefund(b.ctx, r.ID, finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundApproved, a.State)
	require.NotEmpty(t, a.RefundRef)
	requireDec(t, "40000", b.balance(t, c.account.ID).ByKind[ledger.LotPaid], "60 yuan of paid credit refunded")
	_, err = b.svc.ApproveRefund(b.ctx, r.ID, finance)
	require.ErrorIs(t, err, backoffice.ErrRefundClosed)
	require.NoError(t, b.svc.MarkRefundDone(b.ctx, r.ID, "", finance))
	list, err := b.svc.RefundRequests(b.ctx, backoffice.RefundFilter{State: backoffice.RefundDone, AccountID: c.account.ID})
	require.NoError(t, err)
	require.Len(t, list, 1)

	r2, err := b.svc.RequestRefund(b.ctx, c.account.ID, "ORD2", d("10.00"), "changed mind", "")
	require.NoError(t, err)
	_, err = b.svc.RejectRefund(b.ctx, r2.ID, "", finance)
	require.ErrorIs(t, err, backoffice.ErrReasonRequired)
	rej, err := b.svc.RejectRefund(b.ctx, r2.ID, "credit already used for invoices", finance)
	require.NoError(t, err)
	require.Equal(t, backoffice.RefundRejected, rej.State)

	rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
	var actions []backoffice.Action
	for _, x := range rows {
		actions = append(actions, x.Action)
	}
	require.Equal(t, []backoffice.Action{backoffice.ActionRefundRejected, backoffice.ActionRefundRequested, backoffice.ActionRefundDone,
		backoffice.ActionRefundApproved, backoffice.ActionRefundRequested}, actions)
	approved := rows[3]
	requireNullDec(t, "105000", approved.BalanceBefore)
	requireNullDec(t, "45000", approved.BalanceAfter)
}
