package admin

import (
	"time"

	"github.com/shopspring/decimal"
)

// CustomerPrices is the customer page's prices panel: the account card in
// force (its own or, for a sub-account, its enterprise's), the account's
// versions, and the form that sets a new one (admins).
type CustomerPrices struct {
	// Current is the card that prices the account's calls now (nil: the
	// public card); Inherited says it is the enterprise's.
	Current   *PriceCardRow
	Inherited bool
	// Versions are the account's own versions, newest first.
	Versions []PriceCardRow
	// Public is the public version in force; Published every published
	// version (the choices of a pin), newest first.
	Public    int
	Published []int
	// Limit is the discount (percent) beyond which a card waits for
	// approval.
	Limit   decimal.Decimal
	CanEdit bool
	Form    PriceForm
	Errors  Errors
}

// PriceCardRow is one version of an account card, described.
type PriceCardRow struct {
	ID          int64
	Version     int
	Kind        string // none, pinned, discount, custom
	Pinned      int
	Discount    decimal.Decimal
	Lines       []PriceLine
	EffectiveAt time.Time
	Actor       string
	Note        string
	ApprovalID  int64
}

// PriceLine is one model of a custom card, as typed ("model 1.5 6 0.4").
type PriceLine struct {
	Model string
	Text  string
}

// PriceForm is the prices form as typed.
type PriceForm struct {
	Kind, Pinned, Discount, Prices, Reason string
}
