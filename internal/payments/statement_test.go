package payments_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/reconcile"
	"github.com/seed75218f88/credits/migrations"
)

// lineBundle is the back office over real payments and invoicing, as
// `credits serve` wires them, with two finance users.
type lineBundle struct {
	*testBundle
	bo                *backoffice.Service
	adapter           *payments.BackOffice
	inv               *invoicing.Service
	finance, finance2 backoffice.Actor
	serials           int
}

var financeSeq atomic.Int64

func setupLines(t *testing.T) *lineBundle {
	t.Helper()
	b := &lineBundle{testBundle: setup(t, setupOpts{})}
	users := auth.New(b.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	b.adapter = b.svc.BackOffice()
	b.bo = backoffice.New(b.pool, b.l, users, backoffice.Options{Now: b.clock.Now,
		TransferOrders: b.adapter, Orders: b.adapter, ChannelOrders: b.adapter, Refunder: b.adapter})
	b.inv = invoicing.New(b.pool, b.svc.Invoicing(), invoicing.Options{})
	for i, a := range []*backoffice.Actor{&b.finance, &b.finance2} {
		u, err := users.CreateStaff(b.ctx, auth.StaffRequest{Email: fmt.Sprintf("line-finance-%d-%d@example.com", financeSeq.Add(1), i), Password: "staff password 1",
			Name: "F", Roles: []auth.Role{auth.RoleFinance}})
		require.NoError(t, err)
		*a = backoffice.Actor{User: u, IP: "127.0.0.1"}
	}
	return b
}

// unmatchedLine imports one credit line of amount yuan from payer with
// memo and returns it from the unmatched queue (ok false: it matched).
func (b *lineBundle) importLine(t *testing.T, payer, amount, memo string) (reconcile.StoredLine, bool) {
	t.Helper()
	b.serials++
	serial := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), b.serials)
	csv := "交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n" +
		fmt.Sprintf("%s,2025/03/03 10:00:00,%s,6222000011114444,%s,贷,%s\n", serial, payer, amount, memo)
	_, err := b.bo.ImportStatement(b.ctx, strings.NewReader(csv), "lines.csv", "110", b.finance)
	require.NoError(t, err)
	q, err := b.bo.UnmatchedLines(b.ctx, serial, 10, b.finance)
	require.NoError(t, err)
	if len(q) == 0 {
		return reconcile.StoredLine{Serial: serial}, false
	}
	require.Len(t, q, 1)
	return q[0].StoredLine, true
}

func (b *lineBundle) orders(t *testing.T, acc int64) []payments.Order {
	t.Helper()
	out, err := b.svc.Orders(b.ctx, acc, 100)
	require.NoError(t, err)
	return out
}

// TestResolvedBankLineIsACompletedOrder: a statement line finance credits
// to an account from the unmatched queue becomes the customer's completed
// bank-transfer top-up order — the line's amount, payer and serial, the
// credited paid lot — which the customer can invoice and ask back like any
// other top-up; resolving a line twice, even at once, records one order
// and one credit; a recharge above the limit records its order when it is
// approved; and a line that pays a transfer order by its reference code
// has that order only.
func TestResolvedBankLineIsACompletedOrder(t *testing.T) {
	t.Parallel()
	b := setupLines(t)

	t.Run("OrderOfTheLine", func(t *testing.T) {
		acc := b.account(t)
		line, ok := b.importLine(t, "北京丁科技有限公司", "880.00", "货款")
		require.True(t, ok)
		r, err := b.bo.ResolveToAccount(b.ctx, line.ID, acc, "客户来电确认", b.finance)
		require.NoError(t, err)
		require.True(t, r.Applied)

		orders := b.orders(t, acc)
		require.Len(t, orders, 1, "the customer has one order for the line")
		o := orders[0]
		require.Equal(t, payments.ChannelBankTransfer, o.Channel)
		require.Equal(t, payments.StatePaid, o.State)
		require.True(t, o.FromStatement())
		require.Equal(t, line.ID, *o.BankLineID)
		require.Equal(t, int64(88000), o.AmountFen)
		require.Equal(t, int64(88000), *o.PaidFen)
		requireDec(t, "880000", o.Credits, "¥880 at ¥0.001 per credit")
		requireDec(t, "0", o.BonusCredits, "a manual recharge carries no bonus")
		require.Equal(t, r.Lot.ID, *o.PaidLotID)
		require.Nil(t, o.PromoLotID)
		require.Equal(t, "北京丁科技有限公司", o.PayerName)
		require.Equal(t, "6222000011114444", o.PayerAccount)
		require.Equal(t, line.Serial, o.StatementSerial)
		require.Empty(t, o.ReferenceCode, "the customer never made it: no reference code")
		require.Equal(t, fmt.Sprintf("bank_line:%d", line.ID), o.ChannelTradeNo)
		require.NotNil(t, o.PaidAt)
		require.Regexp(t, fmt.Sprintf(`^B\d{8}%010d$`, line.ID), o.OrderNo)
		require.Equal(t, []string{"->created:create", "created>paid:bank_statement"}, b.causes(t, o))
		requireDec(t, "880000", b.byKind(t, acc, ledger.LotPaid), "credited once")

		stored, err := b.bo.Line(b.ctx, line.ID)
		require.NoError(t, err)
		require.Equal(t, reconcile.StatusResolved, stored.Status)
		require.Equal(t, o.OrderNo, *stored.OrderNo, "the line names the order")

		// Invoiceable, whole.
		inv, err := b.inv.Invoiceable(b.ctx, acc)
		require.NoError(t, err)
		require.Len(t, inv, 1)
		require.Equal(t, o.ID, inv[0].OrderID)
		require.Equal(t, int64(88000), inv[0].AvailableFen)

		// Refundable: all of it, then what the unspent credit bought.
		left, err := b.svc.Refundable(b.ctx, acc, orders)
		require.NoError(t, err)
		require.Equal(t, int64(88000), left[o.OrderNo])
		_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("80000"), IdempotencyKey: "use-" + o.OrderNo})
		require.NoError(t, err)
		left, err = b.svc.Refundable(b.ctx, acc, b.orders(t, acc))
		require.NoError(t, err)
		require.Equal(t, int64(80000), left[o.OrderNo], "¥80 of credit was spent")
		_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 80001)
		require.ErrorIs(t, err, payments.ErrRefundExceedsOrder)

		// The customer asks ¥300 back; finance approves; it is paid back by bank.
		req, err := b.bo.RequestRefund(b.ctx, acc, o.OrderNo, d("300"), "项目结束", "127.0.0.1")
		require.NoError(t, err)
		done, err := b.bo.ApproveRefund(b.ctx, req.ID, b.finance2)
		require.NoError(t, err)
		require.Equal(t, backoffice.RefundApproved, done.State)
		after := b.order(t, o)
		require.Equal(t, payments.StatePartiallyRefunded, after.State)
		require.Equal(t, int64(30000), after.RefundedFen)
		refunds, err := b.svc.Refunds(b.ctx, o.ID)
		require.NoError(t, err)
		require.Len(t, refunds, 1)
		require.Equal(t, payments.RefundManual, refunds[0].State, "finance pays a bank transfer back by bank")
		requireDec(t, "500000", b.byKind(t, acc, ledger.LotPaid), "880,000 − 80,000 spent − 300,000 refunded")
		inv, err = b.inv.Invoiceable(b.ctx, acc)
		require.NoError(t, err)
		require.Equal(t, int64(58000), inv[0].AvailableFen, "the refunded part is no longer invoiceable")
		b.verifyClean(t)
	})

	t.Run("ResolvedTwiceRecordsOneOrderAndOneCredit", func(t *testing.T) {
		acc := b.account(t)
		line, ok := b.importLine(t, "戊公司", "66.60", "")
		require.True(t, ok)
		const n = 64
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = b.bo.ResolveToAccount(context.Background(), line.ID, acc, fmt.Sprintf("attempt %d", i), b.finance)
			})
		}
		wg.Wait()
		applied := 0
		for _, err := range errs {
			if err == nil {
				applied++
				continue
			}
			require.ErrorIs(t, err, backoffice.ErrLineNotOpen)
		}
		require.Equal(t, 1, applied)
		_, err := b.bo.ResolveToAccount(b.ctx, line.ID, acc, "again", b.finance2)
		require.ErrorIs(t, err, backoffice.ErrLineNotOpen)
		orders := b.orders(t, acc)
		require.Len(t, orders, 1)
		requireDec(t, "66600", b.byKind(t, acc, ledger.LotPaid))

		// Recording the line again is a replay; with another lot it is refused.
		o := orders[0]
		lot := b.lotByID(t, acc, *o.PaidLotID)
		p := backoffice.LinePayment{Line: line, AccountID: acc, Lot: lot, Actor: "test"}
		var again string
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			again, err = b.adapter.RecordLineTx(b.ctx, tx, p)
			return err
		}))
		require.Equal(t, o.OrderNo, again)
		other := lot
		other.ID = b.creditPaid(t, acc, "1")
		p.Lot = other
		err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.adapter.RecordLineTx(b.ctx, tx, p)
			return err
		})
		require.ErrorIs(t, err, payments.ErrAlreadyPaid)
		require.Len(t, b.orders(t, acc), 1)
	})

	t.Run("ApprovedRechargeRecordsItsOrder", func(t *testing.T) {
		acc := b.account(t)
		line, ok := b.importLine(t, "己公司", "1500.00", "")
		require.True(t, ok)
		r, err := b.bo.ResolveToAccount(b.ctx, line.ID, acc, "above the limit", b.finance)
		require.NoError(t, err)
		require.False(t, r.Applied)
		require.Empty(t, b.orders(t, acc), "nothing while it waits")
		_, err = b.bo.Approve(b.ctx, r.Approval.ID, b.finance2)
		require.NoError(t, err)
		orders := b.orders(t, acc)
		require.Len(t, orders, 1)
		require.Equal(t, payments.StatePaid, orders[0].State)
		require.Equal(t, int64(150000), orders[0].AmountFen)
		require.Equal(t, line.Serial, orders[0].StatementSerial)
		requireDec(t, "1500000", b.byKind(t, acc, ledger.LotPaid))
	})

	t.Run("LineMatchedByCodeKeepsItsOneOrder", func(t *testing.T) {
		acc := b.account(t)
		o, err := b.svc.CreateTransferOrder(b.ctx, acc, 120000)
		require.NoError(t, err)
		line, ok := b.importLine(t, "庚公司", "1200.00", "充值 "+o.ReferenceDisplay())
		require.False(t, ok, "the line pays the order and leaves no line to resolve")
		orders := b.orders(t, acc)
		require.Len(t, orders, 1, "no second order for the same money")
		require.Equal(t, o.OrderNo, orders[0].OrderNo)
		require.Equal(t, payments.StatePaid, orders[0].State)
		require.False(t, orders[0].FromStatement())
		requireDec(t, "1200000", b.byKind(t, acc, ledger.LotPaid))
		stored, err := reconcile.ListLines(b.ctx, b.pool, reconcile.LineFilter{Search: line.Serial, Limit: 10})
		require.NoError(t, err)
		require.Len(t, stored, 1)
		require.Equal(t, reconcile.StatusMatched, stored[0].Status)
		_, err = b.bo.ResolveToAccount(b.ctx, stored[0].ID, acc, "by mistake", b.finance)
		require.ErrorIs(t, err, backoffice.ErrLineNotOpen)
		require.Len(t, b.orders(t, acc), 1)
	})
}

func (b *lineBundle) lotByID(t *testing.T, acc, id int64) ledger.Lot {
	t.Helper()
	for _, l := range b.lots(t, acc) {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no lot %d", id)
	return ledger.Lot{}
}

func (b *lineBundle) creditPaid(t *testing.T, acc int64, amount string) int64 {
	t.Helper()
	r, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: decimal.RequireFromString(amount),
		EventType: ledger.EventPurchase, IdempotencyKey: fmt.Sprintf("extra-%d-%s", acc, amount), Actor: "test"})
	require.NoError(t, err)
	return r.Lot.ID
}

// TestBackfillOfLinesCreditedBeforeOrders: a line finance credited before
// lines became orders (a back office without the payments adapter credits
// it the old way) gets its completed order from migration 000641, the
// same as a line credited today; running it again records nothing more.
func TestBackfillOfLinesCreditedBeforeOrders(t *testing.T) {
	t.Parallel()
	b := setupLines(t)
	users := auth.New(b.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	old := backoffice.New(b.pool, b.l, users, backoffice.Options{Now: b.clock.Now})
	acc := b.account(t)
	line, ok := b.importLine(t, "辛公司", "123.45", "")
	require.True(t, ok)
	r, err := old.ResolveToAccount(b.ctx, line.ID, acc, "before orders", b.finance)
	require.NoError(t, err)
	require.Empty(t, b.orders(t, acc), "credited the old way: no order")

	src, err := migrations.FS.ReadFile("000641_payment_orders_bank_lines_backfill.sql")
	require.NoError(t, err)
	up, _, ok := strings.Cut(string(src), "-- +goose Down")
	require.True(t, ok)
	for range 2 {
		_, err = b.pool.Exec(b.ctx, up)
		require.NoError(t, err)
	}

	orders := b.orders(t, acc)
	require.Len(t, orders, 1)
	o := orders[0]
	require.Equal(t, payments.StatePaid, o.State)
	require.Equal(t, payments.ChannelBankTransfer, o.Channel)
	require.Equal(t, int64(12345), o.AmountFen)
	requireDec(t, "123450", o.Credits)
	require.Equal(t, r.Lot.ID, *o.PaidLotID)
	require.Equal(t, line.Serial, o.StatementSerial)
	require.Equal(t, "辛公司", o.PayerName)
	require.Regexp(t, fmt.Sprintf(`^B\d{8}%010d$`, line.ID), o.OrderNo)
	require.Equal(t, []string{"->created:create", "created>paid:bank_statement"}, b.causes(t, o))
	stored, err := b.bo.Line(b.ctx, line.ID)
	require.NoError(t, err)
	require.Equal(t, o.OrderNo, *stored.OrderNo)
	inv, err := b.inv.Invoiceable(b.ctx, acc)
	require.NoError(t, err)
	require.Len(t, inv, 1)
	require.Equal(t, int64(12345), inv[0].AvailableFen)
	left, err := b.svc.Refundable(b.ctx, acc, orders)
	require.NoError(t, err)
	require.Equal(t, int64(12345), left[o.OrderNo])
}
