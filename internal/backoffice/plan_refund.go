package backoffice

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
)

// PlanDesk is what the back office needs of subscriptions
// (internal/plans.Subscriptions).
type PlanDesk interface {
	PlanComps
	// YearRefundQuote applies the yearly refund rule to the account's plan
	// in force now.
	YearRefundQuote(ctx context.Context, accountID int64) (plans.YearRefund, error)
	// UpgradeRefundQuote applies the upgrade refund rule to the account's
	// last paid upgrade now.
	UpgradeRefundQuote(ctx context.Context, accountID int64) (plans.UpgradeRefund, error)
	// ExtendTx extends the plan in force; GrantTx grants a contract term.
	ExtendTx(ctx context.Context, tx pgx.Tx, r plans.ExtendRequest) (plans.Extended, error)
	GrantTx(ctx context.Context, tx pgx.Tx, r plans.GrantRequest) (plans.Subscription, plans.Grant, error)
}

// ErrNoPlanRefund: the account has no yearly plan that can be refunded
// (shown on the whole form).
var ErrNoPlanRefund = field("", "plan_refund_none")

// RequestPlanRefund files a customer's request to refund their yearly plan
// under the yearly refund rule (plans.YearlyRefund), for finance to approve
// in the refund queue like a top-up's: the request names the order that
// paid the year and the amount the rule gives now. The approval applies the
// rule again (months begun meanwhile count as used) and refunds the smaller
// amount through the order's channel, revokes the remaining plan lots and
// ends the subscription (payments, through the Refunder).
//
// Errors: *fielderr.Errors for reason (reason_required) and the whole form
// (plan_refund_none: no refundable yearly plan, or the rule leaves
// nothing); ErrRefundPending; ErrAccountNotFound; database errors.
func (s *Service) RequestPlanRefund(ctx context.Context, accountID int64, reason, ip string) (RefundRequest, plans.YearRefund, error) {
	var out RefundRequest
	if s.opt.Plans == nil {
		return out, plans.YearRefund{}, ErrNoPlanRefund
	}
	reason = strings.TrimSpace(reason)
	q, err := s.opt.Plans.YearRefundQuote(ctx, accountID)
	switch {
	case errors.Is(err, plans.ErrNotFound), errors.Is(err, plans.ErrNoYearRefund):
		err = ErrNoPlanRefund
	case err == nil && q.RefundFen <= 0:
		err = ErrNoPlanRefund
	}
	if reason == "" {
		if err == nil || errors.Is(err, ErrNoPlanRefund) {
			errs := field("reason", "reason_required")
			if err != nil {
				errs.Add("", "plan_refund_none")
			}
			return out, q, errs
		}
	}
	if err != nil {
		return out, q, err
	}
	amount := decimal.New(q.RefundFen, -2)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		bal, err := ledger.PoolBalance(ctx, tx, accountID)
		if errors.Is(err, ledger.ErrNotFound) {
			return ErrAccountNotFound
		}
		if err != nil {
			return err
		}
		out, err = s.requestOrderRefundTx(ctx, tx, accountID, q.OrderNo, amount, reason, ip, bal, map[string]any{
			"plan": q.Subscription.PlanCode, "subscription_id": q.Subscription.ID, "rule": "yearly_plan",
			"unused_months": q.UnusedMonths, "unused_fen": q.UnusedFen, "consumed": q.Consumed.String(),
			"entitled": q.Entitled.String(), "excess": q.Excess.String(), "deduction_fen": q.DeductionFen})
		return err
	})
	return out, q, err
}

// ErrNoUpgradeRefund: the account has no paid upgrade that can be refunded
// (shown on the whole form).
var ErrNoUpgradeRefund = field("", "upgrade_refund_none")

// RequestUpgradeRefund files a customer's request to refund their last paid
// upgrade under the upgrade refund rule (plans.UpgradeRefundRule), for
// finance to approve in the refund queue: the request names the upgrade's
// order and the amount the rule gives now. The approval applies the rule
// again and refunds the smaller amount through the order's channel,
// revokes the upgrade's plan lot and puts the subscription back on the
// plan it came from (payments, through the Refunder).
//
// Errors: *fielderr.Errors for reason (reason_required) and the whole form
// (upgrade_refund_none); ErrRefundPending; ErrAccountNotFound; database
// errors.
func (s *Service) RequestUpgradeRefund(ctx context.Context, accountID int64, reason, ip string) (RefundRequest, plans.UpgradeRefund, error) {
	var out RefundRequest
	if s.opt.Plans == nil {
		return out, plans.UpgradeRefund{}, ErrNoUpgradeRefund
	}
	reason = strings.TrimSpace(reason)
	q, err := s.opt.Plans.UpgradeRefundQuote(ctx, accountID)
	switch {
	case errors.Is(err, plans.ErrNotFound), errors.Is(err, plans.ErrNoUpgradeRefund):
		err = ErrNoUpgradeRefund
	case err == nil && q.RefundFen <= 0:
		err = ErrNoUpgradeRefund
	}
	if reason == "" && (err == nil || errors.Is(err, ErrNoUpgradeRefund)) {
		errs := field("reason", "reason_required")
		if err != nil {
			errs.Add("", "upgrade_refund_none")
		}
		return out, q, errs
	}
	if err != nil {
		return out, q, err
	}
	amount := decimal.New(q.RefundFen, -2)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		bal, err := ledger.PoolBalance(ctx, tx, accountID)
		if errors.Is(err, ledger.ErrNotFound) {
			return ErrAccountNotFound
		}
		if err != nil {
			return err
		}
		out, err = s.requestOrderRefundTx(ctx, tx, accountID, q.Upgrade.OrderNo, amount, reason, ip, bal, map[string]any{
			"plan": q.To.Code, "back_to": q.From.Code, "subscription_id": q.Subscription.ID, "rule": "plan_upgrade",
			"upgrade_fen": q.Upgrade.PriceFen, "unused_fen": q.UnusedFen, "consumed": q.Consumed.String(),
			"entitled": q.Entitled.String(), "excess": q.Excess.String(), "deduction_fen": q.DeductionFen})
		return err
	})
	return out, q, err
}
