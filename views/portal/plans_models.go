package portal

import (
	"context"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
)

// PlansView is the plan comparison with the customer's current plan.
type PlansView struct {
	Frame
	Tiers []PlanTier
	// Current is the plan in force (nil: none, pay as you go).
	Current *CurrentPlan
	// Buy is how plans are bought from the page.
	Buy PlanBuy
	// Change is the change-plan section (nil: no plan in force, or a
	// department, which does not change its enterprise's plan).
	Change *PlanChange
	// History is the subscription's events, newest first.
	History []components.HistoryRow
}

// PlanBuy is the buy form of each plan: shown when Open (a customer who
// pays for its own account, with a channel to pay by) and no plan is in
// force; Mode is how WeChat Pay and Alipay are paid on this device;
// Error is why the last purchase was refused.
type PlanBuy struct {
	Open     bool
	Channels []PayChannel // the available ones
	Mode     string
	Error    string
}

// PlanTier is one plan of the catalogue, in the user's language.
type PlanTier struct {
	Code     string
	Name     string
	Monthly  decimal.Decimal // yuan a month
	Yearly   decimal.Decimal // yuan a year
	Credits  decimal.Decimal // plan credits a month
	RPM      int             // 0: the platform's default
	TPM      int64
	Items    []PlanItem
	Features []string
	// Current marks the customer's plan.
	Current bool
}

// PlanItem is a model or model group with its quotas.
type PlanItem struct {
	Name   string // the group's name, or the models joined
	Quotas []PlanQuota
}

// PlanQuota is one quota: Limit of Unit ("requests", "tokens") per window
// (Window "rolling" with Hours, "day", "week" or "period"); Limit −1 is
// unlimited.
type PlanQuota struct {
	Unit   string
	Window string
	Hours  int
	Limit  int64
}

// CurrentPlan is the customer's subscription as the page shows it.
type CurrentPlan struct {
	Name        string
	PeriodStart time.Time
	PeriodEnd   time.Time
	// TermEnd is when the plan renews (Renews) or ends.
	TermEnd time.Time
	Renews  bool
	// Granted and Remaining are this month's plan credits and what is left
	// of them (both zero before the month's grant).
	Granted   decimal.Decimal
	Remaining decimal.Decimal
	// PastDue: the term ended unpaid; the plan stays until GraceUntil.
	PastDue    bool
	GraceUntil time.Time
	// Renewal is the unpaid renewal order of the next period (nil: none
	// made yet, or nothing to pay).
	Renewal *PlanRenewal
	// Refund is the yearly refund offer (nil: not a paid yearly plan).
	Refund *PlanRefundOffer
	// UpgradeRefund is the refund offer of the last paid upgrade (nil:
	// none refundable now).
	UpgradeRefund *UpgradeRefundOffer
}

// PlanRenewal is a renewal order as the plan page shows it, with the form
// that pays it through the checkout (Channels: those available; none for a
// department, which does not pay).
type PlanRenewal struct {
	Name        string // the plan the next period is sold as
	Cycle       string // "monthly" or "yearly"
	Price       decimal.Decimal
	PeriodStart time.Time
	PeriodEnd   time.Time
	Channels    []PayChannel
	Mode        string
	Error       string
}

// quotaText says a quota in words: "120 calls per 5 hours".
func quotaText(ctx context.Context, q PlanQuota) string {
	amount := i18n.T(ctx, "plans.quota.unlimited")
	if q.Limit >= 0 {
		amount = i18n.Tf(ctx, "plans.quota."+q.Unit, map[string]string{"N": format.Credits(decimal.NewFromInt(q.Limit))})
	}
	return i18n.Tf(ctx, "plans.window."+q.Window, map[string]string{"Amount": amount, "Hours": strconv.Itoa(q.Hours)})
}

// perMinute is a per-minute limit, or the words for the platform default.
func perMinute(ctx context.Context, n int64) string {
	if n == 0 {
		return i18n.T(ctx, "plans.default_limit")
	}
	return format.Credits(decimal.NewFromInt(n))
}

// PlanChange is the change-plan section of a customer's plan in force:
// the plans it can change to, the preview of the chosen one, the change
// scheduled for the term's end, and cancel or resume.
type PlanChange struct {
	// Options are the plans and cycles to change to ("code:cycle").
	Options  []ChangeOption
	Selected string
	Preview  *ChangePreview
	// Scheduled is the change waiting for the term's end (nil: none).
	Scheduled *ScheduledChange
	// Renews: renewal is on (cancel is offered); CanResume: the customer
	// canceled it and may turn it back on.
	Renews    bool
	CanResume bool
	TermEnd   time.Time
	// NextPaid: the next period is paid; nothing changes until it begins.
	NextPaid bool
	// Error is why the last change was refused, in the user's language.
	Error    string
	Channels []PayChannel
	Mode     string
	// Done is the confirmation of the last change made.
	Done string
}

// ChangeOption is one plan and cycle to change to.
type ChangeOption struct {
	Value string // "code:cycle"
	Label string
}

// ChangePreview is what a change costs and gives before it is confirmed.
type ChangePreview struct {
	Plan    string // the new plan's name
	Code    string
	Cycle   string // "monthly" or "yearly"
	Upgrade bool
	Price   decimal.Decimal // yuan, now (upgrades)
	Credits decimal.Decimal // plan credits granted now (upgrades)
	Until   time.Time       // the credits expire, the price covers up to
	Starts  time.Time       // when a scheduled change applies
	Next    decimal.Decimal // the new plan's price per cycle, from renewal
	Payable bool            // an upgrade that costs something: pay by QR
}

// ScheduledChange is a change waiting for the term's end.
type ScheduledChange struct {
	Plan  string
	Cycle string
	From  time.Time
}

// formatTime is an instant in Asia/Shanghai, as pages show it.
func formatTime(t time.Time) string { return format.Time(t) }
