package portal

import (
	"context"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// creditDays says how long a model pack's credits last ("" when forever).
func creditDays(ctx context.Context, days int) string {
	if days <= 0 {
		return ""
	}
	return i18n.Tf(ctx, "products.credit_days", map[string]string{"Days": strconv.Itoa(days)})
}

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
