package admin

import (
	"time"

	"github.com/shopspring/decimal"
)

// CustomerCredit is an enterprise's credit line panel on its customer
// page: the line, what is used of it, its bills, the form that grants or
// changes it (finance only) and, on each unpaid bill, the form that records
// a matched transfer.
type CustomerCredit struct {
	// HasLine: the enterprise has a line row (granted, perhaps closed
	// since); Closed: it was set to 0, shown as no line.
	HasLine, Closed bool
	LineYuan        decimal.Decimal
	// Used and Line in credits.
	Used, Line decimal.Decimal
	Terms      string // "day 1 · 10 days · grace 5" in the page's language
	Bills      []CreditBillRow
	// CanEdit: the staff user may grant lines and record payments.
	CanEdit bool
	// LimitYuan is the line that applies without a second finance user.
	LimitYuan decimal.Decimal
	Form      CreditLineForm
}

// CreditLineForm is the grant/change form with its values and errors.
type CreditLineForm struct {
	Line, BillingDay, TermsDays, GraceDays, Reason string
	Errors                                         Errors
}

// CreditBillRow is one bill on the panel.
type CreditBillRow struct {
	ID        int64
	Period    string
	Amount    decimal.Decimal
	DueAt     time.Time
	Status    string
	Reference string
	PayURL    string
	PayError  string
}
