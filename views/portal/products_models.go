package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// ProductsView is the one-time products page: what is sold, how to buy it,
// and the customer's entitlements.
type ProductsView struct {
	Frame
	Products []ProductCard
	// Buy is how products are bought (the plans page's form: channels
	// available now, the pay mode on this device, the last refusal).
	Buy          PlanBuy
	Entitlements []EntitlementRow
}

// ProductCard is one product of the catalogue in the user's language.
type ProductCard struct {
	Code        string
	Name        string
	Description string
	Kind        string // feature, model_pack, fine_tune
	Price       decimal.Decimal
	Credits     decimal.Decimal // model packs
	CreditDays  int             // model packs: 0 never expire
	JobCount    int             // fine-tune jobs
	// Days is how long the entitlement lasts (0: unlimited).
	Days int
	// RefundDays is the refund window after payment (0: not refundable).
	RefundDays int
}

// EntitlementRow is one of the customer's entitlements.
type EntitlementRow struct {
	Product string // the product's name
	Kind    string
	OrderNo string
	Since   time.Time
	Until   *time.Time // nil: unlimited
	Jobs    int
	// State is active, ended or revoked.
	State string
}
