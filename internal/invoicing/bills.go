package invoicing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Invoicing a credit line's bills (授信账单开票): an enterprise on a credit
// line pays each bill after the fact, so a bill is invoiceable once it is
// paid, for its amount less what invoices of it hold — and, like every
// invoice, within the account-wide cap: what was paid (top-ups and bills)
// and not refunded, less every invoice (paidLeft). A bill's invoice has no
// items and no month; invoices.bill_id names it (migration 001720).

// PaidBill is a credit line bill that was paid.
type PaidBill struct {
	ID            int64
	ReferenceCode string
	PeriodStart   time.Time
	PeriodEnd     time.Time
	AmountFen     int64
	PaidAt        time.Time
}

// PaidBillsFunc lists an account's paid credit line bills, oldest first,
// read through q (the request's transaction, so a check under the
// account's locks holds no second connection; creditline.Service.PaidBills).
type PaidBillsFunc func(ctx context.Context, q db.DBTX, accountID int64) ([]PaidBill, error)

// ErrBillNotInvoiceable: no such bill of the account, or it is not paid
// (the field "bill").
var ErrBillNotInvoiceable = fielderr.One("invoicing", "bill", "bill_not_invoiceable")

// InvoiceableBill is a paid bill with what invoices of it hold and what can
// still be invoiced (also capped account-wide).
type InvoiceableBill struct {
	PaidBill
	InvoicedFen  int64
	AvailableFen int64
}

func (s *Service) paidBills(ctx context.Context, q db.DBTX, accountID int64) ([]PaidBill, error) {
	if s.opts.PaidBills == nil {
		return nil, nil
	}
	b, err := s.opts.PaidBills(ctx, q, accountID)
	if err != nil {
		return nil, fmt.Errorf("paid bills: %w", err)
	}
	return b, nil
}

// billsInvoiced is what invoices other than excludeID hold of each bill.
func billsInvoiced(ctx context.Context, q db.DBTX, accountID, excludeID int64) (map[int64]int64, error) {
	rows, _ := q.Query(ctx, `SELECT bill_id, sum(amount_fen)::bigint FROM invoices
		WHERE account_id = $1 AND bill_id IS NOT NULL AND state IN ('requested', 'issued') AND id <> $2 GROUP BY 1`, accountID, excludeID)
	out := map[int64]int64{}
	var id, fen int64
	_, err := pgx.ForEachRow(rows, []any{&id, &fen}, func() error { out[id] = fen; return nil })
	return out, err
}

func (s *Service) invoiceableBills(ctx context.Context, q db.DBTX, accountID, excludeID int64) ([]InvoiceableBill, error) {
	bills, err := s.paidBills(ctx, q, accountID)
	if err != nil || len(bills) == 0 {
		return nil, err
	}
	left, err := s.paidLeft(ctx, q, accountID, excludeID)
	if err != nil {
		return nil, err
	}
	invoiced, err := billsInvoiced(ctx, q, accountID, excludeID)
	if err != nil {
		return nil, err
	}
	out := make([]InvoiceableBill, len(bills))
	for i, b := range bills {
		out[i] = InvoiceableBill{PaidBill: b, InvoicedFen: invoiced[b.ID], AvailableFen: max(0, min(b.AmountFen-invoiced[b.ID], left))}
	}
	return out, nil
}

// InvoiceableBills lists the account's paid credit line bills with what
// can still be invoiced of each, oldest first; empty without any.
func (s *Service) InvoiceableBills(ctx context.Context, accountID int64) ([]InvoiceableBill, error) {
	out, err := s.invoiceableBills(ctx, s.pool, accountID, 0)
	if err != nil {
		return nil, fmt.Errorf("invoicing: invoiceable bills: %w", err)
	}
	return out, nil
}

// checkBill resolves a bill request under the account's invoicing lock and
// row lock (the request's transaction): amount 0 takes all that is left.
// Errors: ErrBillNotInvoiceable, *ExceedsError.
func (s *Service) checkBill(ctx context.Context, tx pgx.Tx, accountID, billID, amount, excludeID int64) (int64, error) {
	if err := lockConsumption(ctx, tx, accountID); err != nil {
		return 0, err
	}
	bills, err := s.invoiceableBills(ctx, tx, accountID, excludeID)
	if err != nil {
		return 0, err
	}
	for _, b := range bills {
		if b.ID != billID {
			continue
		}
		if amount == 0 {
			amount = b.AvailableFen
		}
		if amount == 0 || amount > b.AvailableFen {
			return 0, &ExceedsError{Bill: b.ReferenceCode, RequestedFen: amount, AvailableFen: b.AvailableFen}
		}
		return amount, nil
	}
	return 0, fmt.Errorf("%w: bill %s", ErrBillNotInvoiceable, strconv.FormatInt(billID, 10))
}
