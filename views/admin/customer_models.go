package admin

import (
	"time"

	"github.com/shopspring/decimal"
)

// CustomerListView is the customer list: the filter form, one page of
// customers and the links to the next and the first page.
type CustomerListView struct {
	Frame  Frame
	Filter CustomerListFilter
	Rows   []CustomerRow
	// NextURL is the next page ("" on the last); FirstURL the first page
	// ("" when this is it).
	NextURL, FirstURL string
}

// CustomerListFilter is what the filter form holds (codes, labelled by the view).
type CustomerListFilter struct {
	Query, Kind, Verification, Status, Mode, Sort string
	HasBalance                                    bool
}

// Filtered reports whether the list is narrowed by anything.
func (f CustomerListFilter) Filtered() bool {
	return f.Query != "" || f.Kind != "" || f.Verification != "" || f.Status != "" || f.HasBalance || (f.Mode != "" && f.Mode != "live")
}

// CustomerRow is one customer of the list.
type CustomerRow struct {
	AccountID    int64
	Name         string
	Login        string
	Kind         string
	Verification string
	Status       string
	Available    decimal.Decimal
	CreatedAt    time.Time
}

// CustomerFacts are the customer page's header facts.
type CustomerFacts struct {
	Kind       string
	Mode       string
	ExternalID string
	CreatedAt  time.Time
	// ParentID is a sub-account's enterprise (0 otherwise).
	ParentID int64
	// AuditURL is the audit log of staff actions on the account ("" when
	// the staff user may not read it).
	AuditURL string
}

// CustomerOrderRow is one recent payment order.
type CustomerOrderRow struct {
	OrderNo   string
	Amount    decimal.Decimal // yuan
	Channel   string
	State     string
	CreatedAt time.Time
	// Bill is the credit line bill a bill payment order pays ("" for any
	// other order): its period's name and the link to it on the page.
	Bill OrderBillLink
}

// OrderBillLink names the bill a bill payment order pays and links to it
// (the customer page's credit line bills, #credit-bill-<id>); zero for an
// order that pays no bill.
type OrderBillLink struct {
	Period string
	URL    string
}

// CustomerInvoiceRow is one recent invoice; URL is its back-office page
// ("" when the staff user may not open invoices).
type CustomerInvoiceRow struct {
	ID          int64
	Number      string
	Kind        string
	State       string
	Amount      decimal.Decimal // yuan
	RequestedAt time.Time
	URL         string
}

// CustomerVerification is the account's real-name verification state;
// URL is its review page ("" when there is none or the role may not see it).
type CustomerVerification struct {
	State       string
	Subject     string
	Submissions int
	DecidedAt   *time.Time
	URL         string
}

// CustomerSubRow is one sub-account of an enterprise.
type CustomerSubRow struct {
	AccountID  int64
	Name       string
	Status     string
	Allocation *decimal.Decimal // nil: no limit
	Available  decimal.Decimal
}
