package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// PlanRefundOffer is the yearly refund rule applied to the customer's
// yearly plan now, shown before they ask, with the form that asks for it.
type PlanRefundOffer struct {
	OrderNo   string
	YearStart time.Time
	YearEnd   time.Time
	// Paid is what the year was bought for; Unused its unused whole months
	// at the monthly equivalent (Paid × UnusedMonths ÷ 12).
	Paid         decimal.Decimal
	UnusedMonths int
	Unused       decimal.Decimal
	// Entitled is the elapsed share of the year's plan credit, Consumed
	// what was spent, Excess the part beyond the share, valued at
	// CreditPrice as Deduction.
	Entitled    decimal.Decimal
	Consumed    decimal.Decimal
	Excess      decimal.Decimal
	CreditPrice string // "¥0.001": a credit's price, to the last digit
	Deduction   decimal.Decimal
	// Refund is what would be paid back now (Unused − Deduction, ≥ 0).
	Refund decimal.Decimal
	// Open is the state of a refund request already filed for the year
	// ("requested", "approved"); "" when none.
	Open string
	// Reason and Errors are the form as sent back (field "reason", "form").
	Reason string
	Errors map[string]string
}

// UpgradeRefundOffer is the upgrade refund rule applied to the customer's
// last paid upgrade now, shown before they ask, with the form that asks.
type UpgradeRefundOffer struct {
	OrderNo  string
	From, To string // plan names
	Paid     decimal.Decimal
	// Unused is the unused share of Paid; Credits the upgrade's plan
	// credit, Consumed what was used of it, Entitled the elapsed share,
	// Excess the part beyond it, valued at CreditPrice as Deduction.
	Unused      decimal.Decimal
	Credits     decimal.Decimal
	Consumed    decimal.Decimal
	Entitled    decimal.Decimal
	Excess      decimal.Decimal
	CreditPrice string
	Deduction   decimal.Decimal
	// Refund is what would be paid back now (Unused − Deduction, ≥ 0).
	Refund decimal.Decimal
	// Open: a refund request of the upgrade is waiting.
	Open bool
	// Reason and Errors are the form as sent back (field "reason", "form").
	Reason string
	Errors map[string]string
}
