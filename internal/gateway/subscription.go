package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/plans"
)

// SubscriptionAnswer is GET /v1/accounts/{external_id}/subscription: the
// subscription in force, or null when the account has none (it is then on
// Free: pay as you go). "No plan" is an answer, not an error, so the
// endpoint answers 200 either way and 404 only for an unknown account.
type SubscriptionAnswer struct {
	Subscription *SubscriptionView `json:"subscription"`
	// BillingPreference is how covered calls are paid (plan_first,
	// wallet_first, plan_only, wallet_only); it is kept without a plan too.
	BillingPreference plans.Preference `json:"billing_preference"`
}

// SubscriptionView is a subscription as the API shows it. Instants are UTC
// (RFC 3339); periods are Asia/Shanghai anniversaries of the first day.
type SubscriptionView struct {
	ID             int64           `json:"id"`
	Account        string          `json:"account"`
	Plan           string          `json:"plan"`
	PlanVersion    int             `json:"plan_version"`
	PlanNameZH     string          `json:"plan_name_zh"`
	PlanNameEN     string          `json:"plan_name_en"`
	Tier           int             `json:"tier"`
	Cycle          plans.Cycle     `json:"cycle"`
	State          plans.State     `json:"state"`
	MonthlyCredits decimal.Decimal `json:"monthly_credits"`
	PeriodStart    time.Time       `json:"current_period_start"`
	PeriodEnd      time.Time       `json:"current_period_end"`
	TermEnd        time.Time       `json:"term_end"`
	// RenewsAt is the renewal date; null when the subscription ends at its
	// term end (canceled, comped, granted).
	RenewsAt *time.Time `json:"renews_at"`
	// NextPlan… is a change scheduled for the period's end (a downgrade
	// or a cycle change); null when none.
	NextPlan        *string      `json:"next_plan"`
	NextPlanVersion *int         `json:"next_plan_version"`
	NextCycle       *plans.Cycle `json:"next_cycle"`
	// GraceUntil is set while past due: the plan stays until then.
	GraceUntil *time.Time    `json:"grace_until"`
	Quotas     []QuotaWindow `json:"quotas"`
}

// QuotaWindow is one quota of the plan as it stands now.
type QuotaWindow struct {
	// Item is the item's group name, or its one model.
	Item   string     `json:"item"`
	Models []string   `json:"models"`
	Unit   plans.Unit `json:"unit"`
	Window string     `json:"window"` // rolling, day, week, period
	// Hours is a rolling window's length (0 for the others).
	Hours int   `json:"hours"`
	Used  int64 `json:"used"`
	// Limit −1 is unlimited.
	Limit int64 `json:"limit"`
	// ResetAt is when the window frees up: a calendar or period window's
	// end; for a rolling window, when its oldest counted use leaves it
	// (null when it counts none).
	ResetAt *time.Time `json:"reset_at"`
}

// Subscription answers the account's plan: for a sub-account, its
// enterprise's (an enterprise's plan covers its pool). Errors: ErrNotFound
// (no such account in the key's mode), database errors.
func (s *Service) Subscription(ctx context.Context, key Key, externalID string) (SubscriptionAnswer, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return SubscriptionAnswer{}, err
	}
	if s.subs == nil || s.quotas == nil {
		return SubscriptionAnswer{}, errors.New("gateway: subscription: no plans configured")
	}
	pool := a.acct.PoolID
	pref, err := s.quotas.Preference(ctx, pool)
	if err != nil {
		return SubscriptionAnswer{}, err
	}
	out := SubscriptionAnswer{BillingPreference: pref}
	st, err := s.subs.Status(ctx, pool)
	if errors.Is(err, plans.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return SubscriptionAnswer{}, err
	}
	v := &SubscriptionView{ID: st.ID, Account: externalID, Plan: st.PlanCode, PlanVersion: st.PlanVersion,
		PlanNameZH: st.Plan.NameZH, PlanNameEN: st.Plan.NameEN, Tier: st.Plan.Tier, Cycle: st.Cycle, State: st.State,
		MonthlyCredits: st.Plan.MonthlyCredits, PeriodStart: st.Period.Start, PeriodEnd: st.Period.End,
		TermEnd: st.TermEnd, RenewsAt: st.RenewsAt, GraceUntil: st.GraceUntil, Quotas: []QuotaWindow{}}
	if st.NextPlanCode != "" {
		code, ver, cyc := st.NextPlanCode, st.NextPlanVersion, st.NextCycle
		v.NextPlan, v.NextPlanVersion, v.NextCycle = &code, &ver, &cyc
	}
	usage, err := s.quotas.Usage(ctx, pool)
	if err != nil {
		return SubscriptionAnswer{}, err
	}
	for _, u := range usage {
		name := u.Item.Group
		if name == "" && len(u.Item.Models) > 0 {
			name = u.Item.Models[0]
		}
		v.Quotas = append(v.Quotas, QuotaWindow{Item: name, Models: u.Item.Models, Unit: u.Quota.Unit,
			Window: string(u.Quota.Window.Kind), Hours: u.Quota.Window.Hours, Used: u.Used, Limit: u.Quota.Limit,
			ResetAt: u.ResetAt})
	}
	out.Subscription = v
	return out, nil
}
