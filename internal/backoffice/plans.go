package backoffice

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// ActionPlanComped: staff gave a customer a plan for N months free.
const ActionPlanComped Action = "plan_comped"

// PlanComps gives plans without payment (internal/plans.Subscriptions).
type PlanComps interface {
	CompTx(ctx context.Context, tx pgx.Tx, r plans.CompRequest) (plans.Subscription, plans.Grant, error)
	// CompDaysTx gives a plan for a number of days (a plan redemption code).
	CompDaysTx(ctx context.Context, tx pgx.Tx, r plans.CompDaysRequest) (plans.Subscription, plans.Grant, error)
}

// CompPlanRequest is an admin giving an account a plan for Months months.
type CompPlanRequest struct {
	AccountID int64
	PlanCode  string
	Months    int
	// Reason is required; it is audited and written on the subscription's
	// comped event.
	Reason string
}

// CompPlan gives the account (its pool: an enterprise's plan covers its
// departments) the latest version of a plan for Months months, with the
// first month's plan credits at once, audited with the balance before and
// after in the same transaction. Only admins may comp.
//
// Errors: ErrForbidden; ErrAccountNotFound; *fielderr.Errors (fielderr.ErrInvalid)
// for the fields plan (plan_unknown, plan_already), months (months_range)
// and reason (reason_required); database errors.
func (s *Service) CompPlan(ctx context.Context, r CompPlanRequest, actor Actor) (plans.Subscription, error) {
	if err := actor.require(auth.RoleAdmin); err != nil {
		return plans.Subscription{}, err
	}
	if s.opt.Plans == nil {
		return plans.Subscription{}, errors.New("backoffice: comp plan: no plans configured")
	}
	r.Reason = strings.TrimSpace(r.Reason)
	errs := fielderr.New("backoffice")
	if r.PlanCode == "" {
		errs.Add("plan", "plan_unknown")
	}
	if r.Months < 1 || r.Months > plans.MaxCompMonths {
		errs.Add("months", "months_range", "min", "1", "max", strconv.Itoa(plans.MaxCompMonths))
	}
	if r.Reason == "" {
		errs.Add("reason", "reason_required")
	}
	if !errs.Empty() {
		return plans.Subscription{}, errs
	}
	var sub plans.Subscription
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		acc, err := ledger.AccountByID(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		before, err := lockBalance(ctx, tx, acc.PoolID)
		if err != nil {
			return err
		}
		var g plans.Grant
		sub, g, err = s.opt.Plans.CompTx(ctx, tx, plans.CompRequest{AccountID: acc.PoolID, PlanCode: r.PlanCode,
			Months: r.Months, Actor: actor.ref(), Note: r.Reason})
		if err != nil {
			return err
		}
		after := before.Add(g.Credits)
		e := staffEntry(actor, ActionPlanComped, acc.PoolID)
		e.BalanceBefore, e.BalanceAfter, e.Reason = &before, &after, r.Reason
		e.Detail = map[string]any{"subscription_id": sub.ID, "plan": sub.PlanCode, "version": sub.PlanVersion,
			"months": r.Months, "term_end": sub.TermEnd, "credits": g.Credits.String(), "lot_id": g.LotID}
		_, err = Audit(ctx, tx, e)
		return err
	})
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return sub, ErrAccountNotFound
	case errors.Is(err, plans.ErrNotFound):
		return sub, fielderr.New("backoffice").Add("plan", "plan_unknown")
	case errors.Is(err, plans.ErrAlreadySubscribed):
		return sub, fielderr.New("backoffice").Add("plan", "plan_already")
	}
	return sub, err
}
