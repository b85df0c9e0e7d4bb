package invoicing_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// paidBills adapts the credit lines' paid bills (the wiring in
// internal/app does the same).
func paidBills(lines *creditline.Service) invoicing.PaidBillsFunc {
	return func(ctx context.Context, q db.DBTX, accountID int64) ([]invoicing.PaidBill, error) {
		bills, err := lines.PaidBills(ctx, q, accountID)
		out := make([]invoicing.PaidBill, len(bills))
		for i, b := range bills {
			out[i] = invoicing.PaidBill{ID: b.ID, ReferenceCode: b.ReferenceCode, PeriodStart: b.PeriodStart, PeriodEnd: b.PeriodEnd,
				AmountFen: b.AmountFen, PaidAt: *b.PaidAt}
		}
		return out, err
	}
}

func billRequest(billID, fen int64) invoicing.Request {
	c := company()
	return invoicing.Request{Kind: invoicing.KindSpecial, Title: &c, Email: "finance@example.com", BillID: billID, AmountFen: fen, RequestedBy: "user:1"}
}

// TestBillInvoicedOnceWhenPaid: an enterprise on a credit line spends it
// and its bill closes. Unpaid, the bill cannot be invoiced; paid, it can,
// for its amount, and 64 simultaneous requests for the whole bill invoice
// it exactly once. The bill is paid money under the account-wide cap: the
// account's top-up stays invoiceable beside it, and refunding that top-up
// is not blocked by the bill's issued invoice.
func TestBillInvoicedOnceWhenPaid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Own(t) // real ledger accounts: ids of this database only
	clk := &clock{}
	clk.set(time.Date(2025, 3, 2, 2, 0, 0, 0, time.UTC))
	l := ledger.New(pool, ledger.Options{Now: clk.now})
	t.Cleanup(l.Close)
	lines := creditline.New(pool, l, creditline.Options{Now: clk.now})
	src := &topUps{byAc: map[int64][]invoicing.TopUp{}}
	svc := invoicing.New(pool, src, invoicing.Options{Now: clk.now, Seller: seller, PaidBills: paidBills(lines)})

	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结"})
	require.NoError(t, err)
	top := invoicing.TopUp{OrderID: 9_000_001, OrderNo: "TU-20250301-0001", AmountFen: 10_000, PaidAt: clk.now().Add(-time.Hour)}
	src.byAc[acc.ID] = []invoicing.TopUp{top}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 1_000_000, BillingDay: 5, TermsDays: 10}, "staff:1", "t", nil)
		return err
	}))
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.RequireFromString("123456.789"), IdempotencyKey: "line-1"})
	require.NoError(t, err)
	clk.set(time.Date(2025, 3, 5, 2, 0, 0, 0, time.UTC))
	bill, closed, err := lines.CloseLine(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	require.EqualValues(t, 12346, bill.AmountFen)

	// Unpaid: not invoiceable.
	avail, err := svc.InvoiceableBills(ctx, acc.ID)
	require.NoError(t, err)
	require.Empty(t, avail)
	_, err = svc.RequestInvoice(ctx, acc.ID, billRequest(bill.ID, 0))
	require.ErrorIs(t, err, invoicing.ErrBillNotInvoiceable)

	_, err = lines.Pay(ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidByTransfer, Ref: "stmt-1", Actor: "staff:1"})
	require.NoError(t, err)
	avail, err = svc.InvoiceableBills(ctx, acc.ID)
	require.NoError(t, err)
	require.Len(t, avail, 1)
	require.EqualValues(t, 12346, avail[0].AvailableFen)
	_, err = svc.RequestInvoice(ctx, acc.ID, billRequest(bill.ID, 12347))
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable, "never more than the bill")

	const n = 64
	var wg sync.WaitGroup
	var ok, exceeded atomic.Int64
	var won atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, err := svc.RequestInvoice(ctx, acc.ID, billRequest(bill.ID, 0))
			switch {
			case err == nil:
				ok.Add(1)
				won.Store(inv.ID)
			case errors.Is(err, invoicing.ErrExceedsInvoiceable):
				exceeded.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(1), ok.Load(), "the bill is invoiced once")
	require.Equal(t, int64(n-1), exceeded.Load())
	avail, err = svc.InvoiceableBills(ctx, acc.ID)
	require.NoError(t, err)
	require.EqualValues(t, 12346, avail[0].InvoicedFen)
	require.EqualValues(t, 0, avail[0].AvailableFen)
	inv, err := svc.Get(ctx, won.Load())
	require.NoError(t, err)
	require.EqualValues(t, 12346, inv.AmountFen)
	require.NotNil(t, inv.BillID)
	require.Equal(t, bill.ID, *inv.BillID)

	// Issued (the amounts checked again, the bill's own invoice left out).
	_, _, err = svc.Issue(ctx, inv.ID, invoicing.IssueRequest{Number: "12345678901234567890"}, "staff:1")
	require.NoError(t, err)
	// The top-up is still invoiceable in full: the bill's invoice is the bill's money.
	tops, err := svc.Invoiceable(ctx, acc.ID)
	require.NoError(t, err)
	require.EqualValues(t, 10_000, tops[0].AvailableFen)
	// Refunding the top-up in full leaves the bill's issued invoice within what was paid.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, svc.CheckRefundTx(ctx, tx, acc.ID, top.OrderID, 10_000), "issued 123.46 ≤ paid 223.46 − 100.00")
	require.NoError(t, tx.Rollback(ctx))
}
