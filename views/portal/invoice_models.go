package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// View models of the invoice pages (invoice.templ).

// TitleForm is a buyer title (发票抬头) as entered or saved.
type TitleForm struct {
	Type, Name, TaxID, Address, Phone, BankName, BankAccount string
}

// TitleRow is one saved title.
type TitleRow struct {
	ID int64
	TitleForm
}

// InvoiceableRow is a paid top-up with what can still be invoiced (yuan).
type InvoiceableRow struct {
	OrderID                               int64
	OrderNo                               string
	PaidAt                                time.Time
	Amount, Refunded, Invoiced, Available decimal.Decimal
	// Issued is the part of Invoiced already issued; the rest is requested.
	Issued decimal.Decimal
}

// InvoiceItem is one top-up an invoice covers.
type InvoiceItem struct {
	OrderID int64
	OrderNo string
	Amount  decimal.Decimal
}

// InvoiceRow is an invoice as the portal and the back office show it.
type InvoiceRow struct {
	ID, AccountID         int64
	Kind, State           string
	Amount                decimal.Decimal
	Buyer                 TitleForm
	Email, Number         string
	IssuedOn              *time.Time
	PDFSource             string
	HasPDF                bool
	Reason                string // localized, or finance's text
	RequestedAt           time.Time
	IssuedAt, ClosedAt    *time.Time
	IssuedBy, ClosedBy    string
	ReissueOf, ReissuedAs *int64
	Items                 []InvoiceItem
	Month                 string // "2026-11" for an invoice of a month's consumption
	BillID                *int64 // the paid credit line bill it covers
}

// InvoiceableMonthRow is a closed month of an account invoiced by
// consumption (yuan).
type InvoiceableMonthRow struct {
	Month                         string // "2026-11"
	Consumed, Invoiced, Available decimal.Decimal
}

// InvoiceRequestForm is the request form as entered.
type InvoiceRequestForm struct {
	Kind, TitleID, Email string
	Title                TitleForm
	SaveTitle            bool
	Orders               map[int64]bool
	Amounts              map[int64]string
	Month, MonthAmount   string // a month's consumption (basis consumption)
	Bill, BillAmount     string // a paid credit line bill (its id)
}

// InvoiceableBillRow is a paid credit line bill with what can still be
// invoiced of it (yuan).
type InvoiceableBillRow struct {
	ID                          int64
	Reference                   string // its bank transfer reference code
	PeriodStart, PeriodEnd      time.Time
	Amount, Invoiced, Available decimal.Decimal
}

// InvoicesView is the portal's invoice page.
type InvoicesView struct {
	Frame
	TopUps []InvoiceableRow
	// Basis is the account's invoicing basis now ("topup" or
	// "consumption"); NextBasis, from NextFrom, a change finance set.
	Basis     string
	NextBasis string
	NextFrom  *time.Time
	Months    []InvoiceableMonthRow
	Bills     []InvoiceableBillRow
	Titles    []TitleRow
	Invoices  []InvoiceRow
	Form      InvoiceRequestForm
	Errors    map[string]string
	FormError string
	Requested bool
}

// InvoiceTitlesView is the saved-titles page.
type InvoiceTitlesView struct {
	Frame
	Titles    []TitleRow
	EditID    int64 // the title being edited (0: a new one)
	Form      TitleForm
	Errors    map[string]string
	FormError string
}
