package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// BillsView is the credit line bills page (/portal/bills): the line, what
// is used of it, and the bills, newest first.
type BillsView struct {
	Frame Frame
	// HasLine: the account has a credit line (else the page says so).
	HasLine bool
	// Closed: the line was set to 0: the page says there is no line and
	// still lists the bills.
	Closed bool
	// LineYuan is the line in yuan; Line, Used and Left in credits.
	LineYuan         decimal.Decimal
	Line, Used, Left decimal.Decimal
	// Own is the balance the account owns (negative in debt).
	Own                             decimal.Decimal
	BillingDay, TermsDays, GraceDay int
	Frozen                          bool
	Bills                           []BillRow
}

// BillRow is one bill in the list, and the detail page's bill.
type BillRow struct {
	ID        int64
	URL       string
	Period    string // 2026-03-05 – 2026-04-04
	Amount    decimal.Decimal
	Credits   decimal.Decimal
	DueAt     time.Time
	Status    string // open, overdue, frozen, paid
	Reference string // XXXX-XXXXX
	PaidAt    *time.Time
}

// BillView is one bill with how to pay it: by QR (Pay, posted to PayURL)
// or by bank transfer with its reference code.
type BillView struct {
	Frame    Frame
	Bill     BillRow
	Account  BankAccount
	BillsURL string
	// Pay offers the QR channels (none: no QR payment here); Pay.Error
	// says why the last attempt made no order.
	Pay    PlanBuy
	PayURL string
}
