package invoicing

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Sentinels returned (wrapped) by this package; Code gives their stable codes.
var (
	// ErrNotFound: no such invoice or title (for this account).
	ErrNotFound = errors.New("invoicing: not found")
	// ErrExceedsInvoiceable: the amount exceeds what was paid and not yet
	// invoiced or refunded; errors.As with *ExceedsError gives the figures.
	ErrExceedsInvoiceable = errors.New("invoicing: amount exceeds what can be invoiced")
	// ErrUnknownTopUp: the order is not a paid top-up of the account (the
	// field "items").
	ErrUnknownTopUp = fielderr.One("invoicing", "items", "unknown_top_up")
	// ErrWrongState: the invoice is not in a state that allows the operation.
	ErrWrongState = errors.New("invoicing: invoice not in the required state")
	// ErrReasonRequired: a rejection or reversal needs a reason (the field
	// "reason").
	ErrReasonRequired = fielderr.One("invoicing", "reason", "reason_required")
	// ErrDuplicateNumber: another invoice already has this invoice number
	// (the field "number").
	ErrDuplicateNumber = fielderr.One("invoicing", "number", "duplicate_number")
	// ErrSellerNotConfigured: Issue was asked to generate a PDF copy but the
	// seller's name or tax id is not set (Options.Seller); the field "pdf",
	// where the platform's PDF can be uploaded instead.
	ErrSellerNotConfigured = fielderr.One("invoicing", "pdf", "seller_not_configured")
	// ErrRefundNeedsReversal: the top-up has an issued invoice, which must be
	// reversed (red-letter) before the top-up can be refunded.
	ErrRefundNeedsReversal = errors.New("invoicing: refund needs the invoice reversed first")
)

// Field codes of the *fielderr.Errors this package returns, on the fields
// kind, title_id, title.type, title.name, title.tax_id, title.address,
// title.phone, title.bank_name, title.bank_account, email, items, reason,
// number, date and pdf (a tax id that is not a credit code carries
// identity's code for it as tax_id_format, tax_id_region, tax_id_checksum). too_long carries the
// argument "max".
const (
	CodeRequired               = "required"
	CodeTooLong                = "too_long"
	CodeInvalid                = "invalid"
	CodeNotAllowed             = "tax_id_not_allowed"       // a tax id on an individual's title
	CodeSpecialRequiresCompany = "special_requires_company" // 专票 only for companies
	CodeDuplicate              = "duplicate_top_up"         // the same top-up twice in one request
	CodeFileTooLarge           = "file_too_large"           // a PDF over Options.MaxPDFBytes
	CodeNotPDF                 = "not_pdf"                  // an upload that is not a PDF by content
)

// FieldCodes lists every field code this package reports, identity's and
// its field sentinels' included, so the web layer can check each has a
// message.
var FieldCodes = []string{CodeRequired, CodeTooLong, CodeInvalid, CodeNotAllowed, CodeSpecialRequiresCompany,
	CodeDuplicate, CodeFileTooLarge, CodeNotPDF, "tax_id_format", "tax_id_region", "tax_id_checksum",
	"unknown_top_up", "reason_required", "duplicate_number", "seller_not_configured", "exceeds_invoiceable",
	"month_not_invoiceable", "basis_invalid", "exceeds_month_invoiceable", "bill_not_invoiceable", "exceeds_bill_invoiceable"}

// ExceedsError says by how much a top-up would be over-invoiced.
type ExceedsError struct {
	OrderID      int64
	OrderNo      string
	Month        string // "2026-11" when a month's consumption is invoiced (OrderNo is then empty)
	Bill         string // a paid bill's reference code when a bill is invoiced (OrderNo is then empty)
	RequestedFen int64  // what this request or issue needs
	AvailableFen int64  // what is left to invoice (paid − refunded − invoiced by others)
}

// Error implements error.
func (e *ExceedsError) Error() string {
	if e.Bill != "" {
		return fmt.Sprintf("invoicing: bill %s: %d fen requested, %d fen can be invoiced", e.Bill, e.RequestedFen, e.AvailableFen)
	}
	if e.Month != "" {
		return fmt.Sprintf("invoicing: month %s: %d fen requested, %d fen can be invoiced", e.Month, e.RequestedFen, e.AvailableFen)
	}
	return fmt.Sprintf("invoicing: top-up %s: %d fen requested, %d fen can be invoiced", e.OrderNo, e.RequestedFen, e.AvailableFen)
}

// Unwrap makes errors.Is(err, ErrExceedsInvoiceable) true, and gives forms
// the failure of the field "items" (code exceeds_invoiceable, with the
// arguments order, available and requested as money, "¥1,234.50").
func (e *ExceedsError) Unwrap() []error {
	if e.Bill != "" {
		return []error{ErrExceedsInvoiceable, fielderr.One("invoicing", "items", "exceeds_bill_invoiceable",
			"bill", e.Bill, "available", yuan(e.AvailableFen), "requested", yuan(e.RequestedFen))}
	}
	if e.Month != "" {
		return []error{ErrExceedsInvoiceable, fielderr.One("invoicing", "items", "exceeds_month_invoiceable",
			"month", e.Month, "available", yuan(e.AvailableFen), "requested", yuan(e.RequestedFen))}
	}
	return []error{ErrExceedsInvoiceable, fielderr.One("invoicing", "items", "exceeds_invoiceable",
		"order", e.OrderNo, "available", yuan(e.AvailableFen), "requested", yuan(e.RequestedFen))}
}

// yuan writes fen as money ("¥1,234.50").
func yuan(fen int64) string { return format.Money(decimal.New(fen, -2)) }

var codes = map[string]error{
	"not_found":             ErrNotFound,
	"exceeds_invoiceable":   ErrExceedsInvoiceable,
	"unknown_top_up":        ErrUnknownTopUp,
	"wrong_state":           ErrWrongState,
	"reason_required":       ErrReasonRequired,
	"duplicate_number":      ErrDuplicateNumber,
	"seller_not_configured": ErrSellerNotConfigured,
	"refund_needs_reversal": ErrRefundNeedsReversal,
	"month_not_invoiceable": ErrMonthNotInvoiceable,
	"basis_invalid":         ErrBasisInvalid,
}

// Code returns the stable code of an error of this package ("" for others),
// whose message is the i18n key `error.invoicing.<code>`:
// not_found, exceeds_invoiceable, unknown_top_up, wrong_state,
// reason_required, duplicate_number, seller_not_configured, refund_needs_reversal.
func Code(err error) string {
	for code, s := range codes {
		if errors.Is(err, s) {
			return code
		}
	}
	return ""
}
