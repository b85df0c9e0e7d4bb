package payments_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/reconcile"
)

// TestBackOfficeAdapter drives the back office over real payment orders: a
// statement line pays a transfer order once, the support lookup finds the
// account by order number, channel reconciliation sees our payments and
// refunds, and an approved refund request refunds through the channel.
func TestBackOfficeAdapter(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	users := auth.New(b.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	adapter := b.svc.BackOffice()
	bo := backoffice.New(b.pool, b.l, users, backoffice.Options{Now: b.clock.Now,
		TransferOrders: adapter, Orders: adapter, ChannelOrders: adapter, Refunder: adapter})
	u, err := users.CreateStaff(b.ctx, auth.StaffRequest{Email: "adapter-finance@example.com", Password: "staff password 1", Name: "F", Roles: []auth.Role{auth.RoleFinance, auth.RoleSupport}})
	require.NoError(t, err)
	finance := backoffice.Actor{User: u, IP: "127.0.0.1"}

	t.Run("StatementPaysTransferOrderOnce", func(t *testing.T) {
		acc := b.account(t)
		o, err := b.svc.CreateTransferOrder(b.ctx, acc, 120000)
		require.NoError(t, err)
		csv := "交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n" +
			fmt.Sprintf("ADP-1,2025/03/01 09:00:00,甲公司,6222000011112222,1200.00,贷,充值 %s\n", strings.ToLower(o.ReferenceDisplay())) +
			"ADP-2,2025/03/01 10:00:00,乙公司,6222000011112222,50.00,贷,no code\n"
		res, err := bo.ImportStatement(b.ctx, strings.NewReader(csv), "adapter.csv", "110", finance)
		require.NoError(t, err)
		require.Equal(t, backoffice.ImportResult{Inserted: 2, Matched: 1, Unmatched: 1}, res)
		require.Equal(t, payments.StatePaid, b.order(t, o).State)
		requireDec(t, "1200000", b.byKind(t, acc, ledger.LotPaid))

		again, err := bo.ImportStatement(b.ctx, strings.NewReader(csv), "adapter.csv", "110", finance)
		require.NoError(t, err)
		require.Equal(t, backoffice.ImportResult{Duplicates: 2}, again)
		requireDec(t, "1200000", b.byKind(t, acc, ledger.LotPaid), "credited once")

		found, err := bo.FindCustomers(b.ctx, o.OrderNo, finance)
		require.NoError(t, err)
		require.NotEmpty(t, found)
		require.Equal(t, acc, found[0].Account.ID)
		require.Equal(t, "order", found[0].MatchedBy)
	})

	t.Run("OpenTransferOrdersAndReferenceLookup", func(t *testing.T) {
		acc := b.account(t)
		older, err := b.svc.CreateTransferOrder(b.ctx, acc, 30000)
		require.NoError(t, err)
		newer, err := b.svc.CreateTransferOrder(b.ctx, acc, 45000)
		require.NoError(t, err)
		b.paid(t, acc, 10000, payments.ChannelWeChat) // a QR top-up is never a transfer order
		settled, err := b.svc.CreateTransferOrder(b.ctx, acc, 20000)
		require.NoError(t, err)
		csv := "交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n" +
			fmt.Sprintf("ADP-3,2025/03/02 09:00:00,丙公司,6222000011112222,200.00,贷,%s\n", settled.ReferenceCode)
		res, err := bo.ImportStatement(b.ctx, strings.NewReader(csv), "adapter2.csv", "110", finance)
		require.NoError(t, err)
		require.Equal(t, 1, res.Matched)

		open, err := adapter.OpenOrdersOf(b.ctx, acc)
		require.NoError(t, err)
		require.Equal(t, []backoffice.TransferOrder{
			{AccountID: acc, OpenOrder: reconcile.OpenOrder{OrderNo: newer.OrderNo, Code: newer.ReferenceCode, Amount: d("450.00")}},
			{AccountID: acc, OpenOrder: reconcile.OpenOrder{OrderNo: older.OrderNo, Code: older.ReferenceCode, Amount: d("300.00")}},
		}, open, "newest first; the paid one is not open")

		found, err := bo.FindCustomers(b.ctx, strings.ToLower(older.ReferenceDisplay()), finance)
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Equal(t, acc, found[0].Account.ID)
		require.Equal(t, "reference", found[0].MatchedBy)
	})

	t.Run("ChannelRecordsAndRefund", func(t *testing.T) {
		acc := b.account(t)
		o := b.paid(t, acc, 10000, payments.ChannelWeChat)
		from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		recs, err := adapter.OrderRecords(b.ctx, reconcile.WeChatPay, from, to)
		require.NoError(t, err)
		require.Contains(t, recs, reconcile.OrderRecord{Channel: reconcile.WeChatPay, OutTradeNo: o.OrderNo, Amount: d("100.00"), Status: reconcile.BillPaid})

		req, err := bo.RequestRefund(b.ctx, acc, "", d("30"), "not needed", "127.0.0.1")
		require.NoError(t, err)
		done, err := bo.ApproveRefund(b.ctx, req.ID, finance)
		require.NoError(t, err)
		require.Equal(t, backoffice.RefundApproved, done.State)
		require.NotEmpty(t, done.RefundRef)
		require.Equal(t, payments.StatePartiallyRefunded, b.order(t, o).State)
		requireDec(t, "70000", b.byKind(t, acc, ledger.LotPaid))

		// The approval committed the ledger refund; the channel has not
		// been called yet, so reconciliation does not expect it.
		want := reconcile.OrderRecord{Channel: reconcile.WeChatPay, OutTradeNo: o.OrderNo, RefundNo: done.RefundRef, Amount: d("30.00"), Status: reconcile.BillRefund}
		recs, err = adapter.OrderRecords(b.ctx, reconcile.WeChatPay, from, to)
		require.NoError(t, err)
		require.NotContains(t, recs, want)
		st, err := b.svc.SendRefund(b.ctx, done.RefundRef)
		require.NoError(t, err)
		require.Equal(t, payments.RefundDone, st)
		recs, err = adapter.OrderRecords(b.ctx, reconcile.WeChatPay, from, to)
		require.NoError(t, err)
		require.Contains(t, recs, want)
	})
}
