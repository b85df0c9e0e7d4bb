package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Audit actions of the plan desk.
const (
	ActionPlanExtended       Action = "plan_extended"        // staff extended a plan's current period
	ActionPlanGranted        Action = "plan_granted"         // a plan granted to an enterprise for a contract term
	ActionPlanGrantRequested Action = "plan_grant_requested" // a plan grant above the limit waits for approval
)

// PlanGrantPayload is the plan grant an ApprovePlanGrant request holds.
type PlanGrantPayload struct {
	AccountID int64  `json:"account_id"`
	PlanCode  string `json:"plan_code"`
	Months    int    `json:"months"`
	Reason    string `json:"reason"`
}

// PlanGrant returns the plan grant an ApprovePlanGrant request holds.
func (a Approval) PlanGrant() (PlanGrantPayload, error) {
	var p PlanGrantPayload
	err := json.Unmarshal(a.Payload, &p)
	return p, err
}

// ExtendPlanRequest is staff extending a customer's plan in force.
type ExtendPlanRequest struct {
	AccountID int64
	Days      int
	Reason    string
}

// ExtendPlan extends the current period of the customer's plan (its pool's)
// by Days days (plans.ExtendTx: the periods move, the added days' plan
// credit is granted), audited with the balances in the same transaction.
// Admin and support staff may extend.
//
// Errors: ErrForbidden; ErrAccountNotFound; *fielderr.Errors for days
// (days_range) and reason (reason_required), all at once, and for the whole
// form (plan_none: no plan in force; plan_not_extendable: a renewal order
// is waiting for payment, or it is past due); database errors.
func (s *Service) ExtendPlan(ctx context.Context, r ExtendPlanRequest, actor Actor) (plans.Extended, error) {
	var out plans.Extended
	if err := actor.require(auth.RoleAdmin, auth.RoleSupport); err != nil {
		return out, err
	}
	if s.opt.Plans == nil {
		return out, errors.New("backoffice: extend plan: no plans configured")
	}
	r.Reason = strings.TrimSpace(r.Reason)
	errs := fielderr.New("backoffice")
	if r.Days < 1 || r.Days > plans.MaxExtendDays {
		errs.Add("days", "days_range", "min", "1", "max", strconv.Itoa(plans.MaxExtendDays))
	}
	if r.Reason == "" {
		errs.Add("reason", "reason_required")
	}
	if !errs.Empty() {
		return out, errs
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		acc, err := ledger.AccountByID(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		before, err := lockBalance(ctx, tx, acc.PoolID)
		if err != nil {
			return err
		}
		out, err = s.opt.Plans.ExtendTx(ctx, tx, plans.ExtendRequest{AccountID: acc.PoolID, Days: r.Days, Actor: actor.ref(), Note: r.Reason})
		if err != nil {
			return err
		}
		after := before.Add(out.Credits)
		e := staffEntry(actor, ActionPlanExtended, acc.PoolID)
		e.BalanceBefore, e.BalanceAfter, e.Reason = &before, &after, r.Reason
		e.Detail = map[string]any{"subscription_id": out.Subscription.ID, "plan": out.Subscription.PlanCode, "days": r.Days,
			"term_end": out.Subscription.TermEnd, "credits": out.Credits.String(), "lot_id": out.LotID}
		_, err = Audit(ctx, tx, e)
		return err
	})
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return out, ErrAccountNotFound
	case errors.Is(err, plans.ErrNotFound):
		return out, field("", "plan_none")
	case errors.Is(err, plans.ErrNotExtendable):
		return out, field("", "plan_not_extendable")
	}
	return out, err
}

// GrantPlanRequest is staff granting an enterprise a plan for a contract
// term of Months months.
type GrantPlanRequest struct {
	AccountID int64
	PlanCode  string
	Months    int
	Reason    string
}

// PlanGrantResult is what GrantPlan did: the subscription granted, or the
// approval the grant waits for (Pending).
type PlanGrantResult struct {
	Subscription plans.Subscription
	Pending      bool
	Approval     Approval
}

// GrantPlan grants an enterprise (its pool) the latest version of a plan
// for a contract term of Months monthly periods, without payment and
// without renewal, with the first month's plan credits at once, audited. A
// term longer than Settings.PlanGrantLimitMonths waits as an approval
// (ApprovePlanGrant) for an admin other than the requester (maker-checker);
// approving it grants it then. Admin and support staff may grant.
//
// Errors: ErrForbidden; ErrAccountNotFound; ErrApprovalPending (the same
// enterprise's grant already waits); *fielderr.Errors for plan
// (plan_unknown, plan_already), months (months_range), reason
// (reason_required) and the whole form (plan_grant_enterprise: not an
// enterprise), all at once; database errors.
func (s *Service) GrantPlan(ctx context.Context, r GrantPlanRequest, actor Actor) (PlanGrantResult, error) {
	var out PlanGrantResult
	if err := actor.require(auth.RoleAdmin, auth.RoleSupport); err != nil {
		return out, err
	}
	if s.opt.Plans == nil {
		return out, errors.New("backoffice: grant plan: no plans configured")
	}
	r.Reason = strings.TrimSpace(r.Reason)
	acc, err := ledger.AccountByID(ctx, s.pool, r.AccountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	errs := fielderr.New("backoffice")
	if acc.Kind != ledger.AccountEnterprise {
		errs.Add("", "plan_grant_enterprise")
	}
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
		return out, errs
	}
	p := PlanGrantPayload{AccountID: acc.ID, PlanCode: r.PlanCode, Months: r.Months, Reason: r.Reason}
	limit := s.Settings().planGrantLimit()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if r.Months > limit {
			bal, err := readBalance(ctx, tx, acc.ID)
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(p)
			a, _, err := newApproval(ctx, tx, Approval{Action: ApprovePlanGrant, Subject: fmt.Sprintf("plan_grant:%d", acc.ID),
				AccountID: acc.ID, Amount: decimal.NewFromInt(int64(r.Months)), Payload: payload, Reason: r.Reason,
				RequestedBy: actor.User.ID, RequestedByEmail: actor.User.Email, RequestedAt: s.now()}, "")
			if err != nil {
				return err
			}
			out.Pending, out.Approval = true, a
			e := staffEntry(actor, ActionPlanGrantRequested, acc.ID)
			e.BalanceBefore, e.BalanceAfter, e.Reason = &bal, &bal, r.Reason
			e.Detail = map[string]any{"approval_id": a.ID, "plan": r.PlanCode, "months": r.Months, "limit_months": limit}
			_, err = Audit(ctx, tx, e)
			return err
		}
		var err error
		out.Subscription, err = s.grantPlanTx(ctx, tx, p, actor, nil)
		return err
	})
	return out, planFormErr(err)
}

// grantPlanTx applies a plan grant on tx, audited (approvalID names the
// approval that applied it).
func (s *Service) grantPlanTx(ctx context.Context, tx pgx.Tx, p PlanGrantPayload, actor Actor, approvalID *int64) (plans.Subscription, error) {
	before, err := lockBalance(ctx, tx, p.AccountID)
	if err != nil {
		return plans.Subscription{}, err
	}
	sub, g, err := s.opt.Plans.GrantTx(ctx, tx, plans.GrantRequest{AccountID: p.AccountID, PlanCode: p.PlanCode,
		Months: p.Months, Actor: actor.ref(), Note: p.Reason})
	if err != nil {
		return sub, err
	}
	after := before.Add(g.Credits)
	e := staffEntry(actor, ActionPlanGranted, p.AccountID)
	e.BalanceBefore, e.BalanceAfter, e.Reason = &before, &after, p.Reason
	detail := map[string]any{"subscription_id": sub.ID, "plan": sub.PlanCode, "version": sub.PlanVersion,
		"months": p.Months, "term_end": sub.TermEnd, "credits": g.Credits.String(), "lot_id": g.LotID}
	if approvalID != nil {
		detail["approval_id"] = *approvalID
	}
	e.Detail = detail
	_, err = Audit(ctx, tx, e)
	return sub, err
}

// applyPlanGrantApproval grants the plan an approved ApprovePlanGrant
// request holds and marks the request applied, audited (Approve's part for
// plan grants: no day limits count months).
func (s *Service) applyPlanGrantApproval(ctx context.Context, tx pgx.Tx, a Approval, p PlanGrantPayload, approver Actor) (Approval, error) {
	requester := Actor{User: auth.User{ID: a.RequestedBy, Email: a.RequestedByEmail}}
	sub, err := s.grantPlanTx(ctx, tx, p, requester, &a.ID)
	if err != nil {
		return Approval{}, planFormErr(err)
	}
	return s.markApplied(ctx, tx, a, approver, map[string]any{"subscription_id": sub.ID},
		map[string]any{"months": p.Months, "plan": p.PlanCode, "subscription_id": sub.ID}, nil, nil)
}

// planFormErr turns the plans' refusals into the form's field errors.
func planFormErr(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return ErrAccountNotFound
	case errors.Is(err, plans.ErrNotFound):
		return field("plan", "plan_unknown")
	case errors.Is(err, plans.ErrAlreadySubscribed):
		return field("plan", "plan_already")
	}
	return err
}

// PlanGrantLimitMonths is the longest contract term a plan grant applies
// without approval (the form says it).
func (s *Service) PlanGrantLimitMonths() int { return s.Settings().planGrantLimit() }
