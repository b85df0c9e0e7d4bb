package invoicing

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels returned (wrapped) by this package; Code gives their stable codes.
var (
	// ErrInvalidInput: a form field failed validation; errors.As with
	// *InputError gives the fields and their codes.
	ErrInvalidInput = errors.New("invoicing: invalid input")
	// ErrNotFound: no such invoice or title (for this account).
	ErrNotFound = errors.New("invoicing: not found")
	// ErrExceedsInvoiceable: the amount exceeds what was paid and not yet
	// invoiced or refunded; errors.As with *ExceedsError gives the figures.
	ErrExceedsInvoiceable = errors.New("invoicing: amount exceeds what can be invoiced")
	// ErrUnknownTopUp: the order is not a paid top-up of the account.
	ErrUnknownTopUp = errors.New("invoicing: not a paid top-up of this account")
	// ErrWrongState: the invoice is not in a state that allows the operation.
	ErrWrongState = errors.New("invoicing: invoice not in the required state")
	// ErrReasonRequired: a rejection or reversal needs a reason.
	ErrReasonRequired = errors.New("invoicing: reason required")
	// ErrDuplicateNumber: another invoice already has this invoice number.
	ErrDuplicateNumber = errors.New("invoicing: invoice number already used")
	// ErrSellerNotConfigured: Issue was asked to generate a PDF copy but the
	// seller's name or tax id is not set (Options.Seller).
	ErrSellerNotConfigured = errors.New("invoicing: seller not configured")
	// ErrRefundNeedsReversal: the top-up has an issued invoice, which must be
	// reversed (red-letter) before the top-up can be refunded.
	ErrRefundNeedsReversal = errors.New("invoicing: refund needs the invoice reversed first")
)

// FieldError is one failed form field. Field names: kind, title_id,
// title.type, title.name, title.tax_id, title.address, title.phone,
// title.bank_name, title.bank_account, email, items, number, date, pdf.
// Code maps to the i18n key `error.invoicing.<code>` (credit code failures
// carry identity's codes: credit_format, credit_region, credit_checksum).
type FieldError struct {
	Field string `json:"field"`
	Code  string `json:"code"`
}

// Validation codes.
const (
	CodeRequired               = "required"
	CodeTooLong                = "too_long"
	CodeInvalid                = "invalid"
	CodeNotAllowed             = "not_allowed"              // e.g. a tax id on an individual's title
	CodeSpecialRequiresCompany = "special_requires_company" // 专票 only for companies
	CodeDuplicate              = "duplicate"                // the same top-up twice in one request
)

// InputError lists the failed fields. It matches ErrInvalidInput.
type InputError struct {
	Fields []FieldError
}

// Error implements error.
func (e *InputError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Code
	}
	return "invoicing: invalid input: " + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// Field returns the code of the named field ("" when it passed).
func (e *InputError) Field(name string) string {
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Code
		}
	}
	return ""
}

// ExceedsError says by how much a top-up would be over-invoiced.
type ExceedsError struct {
	OrderID      int64
	OrderNo      string
	RequestedFen int64 // what this request or issue needs
	AvailableFen int64 // what is left to invoice (paid − refunded − invoiced by others)
}

// Error implements error.
func (e *ExceedsError) Error() string {
	return fmt.Sprintf("invoicing: top-up %s: %d fen requested, %d fen can be invoiced", e.OrderNo, e.RequestedFen, e.AvailableFen)
}

// Unwrap makes errors.Is(err, ErrExceedsInvoiceable) true.
func (e *ExceedsError) Unwrap() error { return ErrExceedsInvoiceable }

var codes = map[string]error{
	"invalid_input":         ErrInvalidInput,
	"not_found":             ErrNotFound,
	"exceeds_invoiceable":   ErrExceedsInvoiceable,
	"unknown_top_up":        ErrUnknownTopUp,
	"wrong_state":           ErrWrongState,
	"reason_required":       ErrReasonRequired,
	"duplicate_number":      ErrDuplicateNumber,
	"seller_not_configured": ErrSellerNotConfigured,
	"refund_needs_reversal": ErrRefundNeedsReversal,
}

// Code returns the stable code of an error of this package ("" for others),
// whose message is the i18n key `error.invoicing.<code>`:
// invalid_input, not_found, exceeds_invoiceable, unknown_top_up, wrong_state,
// reason_required, duplicate_number, seller_not_configured, refund_needs_reversal.
func Code(err error) string {
	for code, s := range codes {
		if errors.Is(err, s) {
			return code
		}
	}
	return ""
}
