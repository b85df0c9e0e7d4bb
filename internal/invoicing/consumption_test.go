package invoicing_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
)

// consumption is an in-memory stand-in for the revenue report's valuation
// of an account's month (backoffice.Service.PaidConsumedFen, tested there).
type consumption struct {
	mu sync.Mutex
	m  map[int64]map[string]int64 // account → "2025-06" → fen
}

func (c *consumption) set(acct int64, month string, fen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[acct] == nil {
		c.m[acct] = map[string]int64{}
	}
	c.m[acct][month] = fen
}

func (c *consumption) fen(_ context.Context, acct int64, from, to time.Time) (map[string]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from.In(shanghai).Day() != 1 || to.In(shanghai).Day() != 1 || from.In(shanghai).Hour() != 0 || !to.After(from) {
		return nil, errors.New("not whole months")
	}
	out := map[string]int64{}
	for m, fen := range c.m[acct] {
		if k := from.In(shanghai).Format("2006-01"); m >= k && m < to.In(shanghai).Format("2006-01") {
			out[m] = fen
		}
	}
	return out, nil
}

var shanghai = time.FixedZone("CST", 8*3600)

type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time  { return *c.t.Load() }
func (c *clock) set(t time.Time) { c.t.Store(&t) }

func setupConsumption(t *testing.T) (*testBundle, *consumption, *clock) {
	t.Helper()
	cons := &consumption{m: map[int64]map[string]int64{}}
	clk := &clock{}
	clk.set(time.Date(2025, 1, 10, 4, 0, 0, 0, time.UTC))
	b := setup(t, invoicing.Options{Now: clk.now, ConsumedFen: cons.fen})
	return b, cons, clk
}

func monthRequest(month string, fen int64) invoicing.Request {
	c := company()
	return invoicing.Request{Kind: invoicing.KindSpecial, Title: &c, Email: "finance@example.com", Month: month, AmountFen: fen, RequestedBy: "user:1"}
}

// TestConsumptionCapAcrossRefund: a month's invoice is capped, to the fen,
// by what was paid less what was refunded, even when more was consumed.
func TestConsumptionCapAcrossRefund(t *testing.T) {
	t.Parallel()
	b, cons, clk := setupConsumption(t)
	acct, tops := b.account(1_000_000)
	_, err := b.svc.SetBasis(b.ctx, acct, invoicing.BasisConsumption, "staff:1", nil)
	require.NoError(t, err)
	info, err := b.svc.AccountBasis(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, invoicing.BasisTopUp, info.Current) // from next month
	require.NotNil(t, info.Next)

	// January was still invoiced by top-up: no month to invoice.
	clk.set(time.Date(2025, 2, 2, 4, 0, 0, 0, time.UTC))
	cons.set(acct, "2025-01", 50_000)
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-01", 0))
	require.Equal(t, "month_not_invoiceable", inputCode(t, err, "month"))
	// February is not closed yet.
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-02", 0))
	require.Equal(t, "month_not_invoiceable", inputCode(t, err, "month"))
	// Top-ups are no longer invoiceable.
	avail, err := b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(0), avail[0].AvailableFen)
	_, err = b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: ptr(company()), Email: "a@example.com",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}}})
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)

	// February consumed ¥8,000.00, but ¥3,000.01 of ¥10,000 was refunded.
	clk.set(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	cons.set(acct, "2025-02", 800_000)
	b.src.refund(acct, tops[0].OrderID, 300_001)
	months, err := b.svc.InvoiceableMonths(b.ctx, acct)
	require.NoError(t, err)
	require.Len(t, months, 1)
	require.Equal(t, "2025-02", months[0].Label())
	require.Equal(t, int64(800_000), months[0].ConsumedFen)
	require.Equal(t, int64(699_999), months[0].AvailableFen)

	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-02", 700_000))
	var ex *invoicing.ExceedsError
	require.ErrorAs(t, err, &ex)
	require.Equal(t, int64(699_999), ex.AvailableFen)
	require.Equal(t, "2025-02", ex.Month)
	require.Equal(t, "exceeds_month_invoiceable", inputCode(t, err, "items"))
	inv, err := b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-02", 699_999))
	require.NoError(t, err)
	require.Equal(t, "2025-02", inv.Month)
	require.Equal(t, int64(699_999), inv.AmountFen)
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-02", 1))
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)

	// Issuing checks again, and draws the month on our copy.
	issued, pdf, err := b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "12345678901234567890"}, "staff:1")
	require.NoError(t, err)
	require.Equal(t, invoicing.StateIssued, issued.State)
	require.Contains(t, pdfText(t, pdf), "2025-02")

	// Now every paid fen not refunded is invoiced: one more fen refunded
	// would leave the month's invoice above what was paid, so the refund
	// gate refuses it (the invoice names no order) until it is reversed;
	// a refund of something that is not a top-up (amount 0) passes.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.ErrorIs(t, b.svc.CheckRefundTx(b.ctx, tx, acct, tops[0].OrderID, 1), invoicing.ErrRefundNeedsReversal)
	require.NoError(t, b.svc.CheckRefundTx(b.ctx, tx, acct, tops[0].OrderID, 0))
	require.NoError(t, tx.Rollback(b.ctx))
	_, err = b.svc.Reverse(b.ctx, inv.ID, "the customer asked", "staff:1")
	require.NoError(t, err)
	tx2, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(b.ctx) }()
	require.NoError(t, b.svc.CheckRefundTx(b.ctx, tx2, acct, tops[0].OrderID, 699_999), "after the reversal the whole rest may be refunded")
}

func ptr[T any](v T) *T { return &v }

// TestConsumptionBasisSwitchNeverDoubleCounts: top-up invoices, then
// months, then top-ups again: what is invoiced in all never exceeds what
// was paid, and each basis applies only where it is in force.
func TestConsumptionBasisSwitchNeverDoubleCounts(t *testing.T) {
	t.Parallel()
	b, cons, clk := setupConsumption(t)
	acct, tops := b.account(600_000, 400_000) // ¥10,000 paid
	c := company()
	// January, by top-up: ¥5,000 of the first top-up.
	_, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindSpecial, Title: &c, Email: "a@example.com",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID, AmountFen: 500_000}}})
	require.NoError(t, err)
	// Mid-March finance switches to consumption (from April).
	clk.set(time.Date(2025, 3, 15, 4, 0, 0, 0, time.UTC))
	_, err = b.svc.SetBasis(b.ctx, acct, invoicing.BasisConsumption, "staff:1", nil)
	require.NoError(t, err)
	avail, err := b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(100_000+400_000), avail[0].AvailableFen+avail[1].AvailableFen) // March is still by top-up

	// April consumed ¥3,000, May ¥4,000: only ¥5,000 is left to invoice.
	cons.set(acct, "2025-03", 900_000)
	cons.set(acct, "2025-04", 300_000)
	cons.set(acct, "2025-05", 400_000)
	clk.set(time.Date(2025, 5, 20, 4, 0, 0, 0, time.UTC))
	_, err = b.svc.SetBasis(b.ctx, acct, invoicing.BasisTopUp, "staff:1", nil) // back to top-ups from June
	require.NoError(t, err)
	clk.set(time.Date(2025, 6, 2, 4, 0, 0, 0, time.UTC))
	months, err := b.svc.InvoiceableMonths(b.ctx, acct)
	require.NoError(t, err)
	require.Len(t, months, 2) // May and April; March was by top-up
	require.Equal(t, "2025-05", months[0].Label())
	require.Equal(t, int64(400_000), months[0].AvailableFen)
	require.Equal(t, int64(300_000), months[1].AvailableFen)
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-03", 0))
	require.Equal(t, "month_not_invoiceable", inputCode(t, err, "month"))
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-04", 0))
	require.NoError(t, err)
	_, err = b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-05", 0))
	require.NoError(t, err)

	// April took ¥3,000 and May only the ¥2,000 left. June, by top-up
	// again: nothing is left, and ¥10,000 was invoiced in all.
	avail, err = b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(0), avail[0].AvailableFen+avail[1].AvailableFen)
	var total int64
	invs, err := b.svc.ForAccount(b.ctx, acct)
	require.NoError(t, err)
	for _, inv := range invs {
		total += inv.AmountFen
	}
	require.Equal(t, int64(1_000_000), total)
}

// TestConsumptionConcurrentRequests: 64 simultaneous requests for a whole
// month: exactly one succeeds and the month is invoiced once.
func TestConsumptionConcurrentRequests(t *testing.T) {
	t.Parallel()
	b, cons, clk := setupConsumption(t)
	acct, _ := b.account(500_000)
	_, err := b.svc.SetBasis(b.ctx, acct, invoicing.BasisConsumption, "staff:1", nil)
	require.NoError(t, err)
	cons.set(acct, "2025-02", 123_456)
	clk.set(time.Date(2025, 3, 3, 4, 0, 0, 0, time.UTC))
	const n = 64
	var wg sync.WaitGroup
	var ok, exceeded atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.svc.RequestInvoice(b.ctx, acct, monthRequest("2025-02", 123_456))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, invoicing.ErrExceedsInvoiceable):
				exceeded.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(1), ok.Load())
	require.Equal(t, int64(n-1), exceeded.Load())
	months, err := b.svc.InvoiceableMonths(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(123_456), months[0].InvoicedFen)
	require.Equal(t, int64(0), months[0].AvailableFen)
}
