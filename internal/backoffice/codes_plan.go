package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
)

// Errors of plan redemption codes.
var (
	// ErrPlanCodeUnknown: a plan batch names no plan, or one with no
	// published version.
	ErrPlanCodeUnknown = field("plan", "redeem_plan_unknown")
	// ErrPlanDaysRange: a plan batch's days are outside 1–plans.MaxCompDays.
	ErrPlanDaysRange = field("plan_days", "redeem_plan_days")
	// ErrRedeemPlanInForce: the account already has a plan in force, so a
	// plan code cannot be redeemed now (the code stays unused). It is the
	// form's failure, not the code's, so it does not count against the
	// redemption throttle.
	ErrRedeemPlanInForce = field("", "redeem_plan_in_force")
)

// PlanCodeFieldCodes are the form codes of plan redemption codes, for the
// web layer's message check.
var PlanCodeFieldCodes = fieldCodes(ErrPlanCodeUnknown, ErrPlanDaysRange, ErrRedeemPlanInForce)

// redeemPlanTx redeems a plan code inside the redemption's transaction
// (the code row locked and marked redeemed): the account's pool gets the
// plan for the batch's days (plans.CompDaysTx, the first month's plan
// credits granted at once), the code records the subscription and lot,
// and the redemption is audited with the balance before and after.
func (s *Service) redeemPlanTx(ctx context.Context, tx pgx.Tx, accountID int64, c codeRow, norm, ip string) (Redemption, error) {
	if s.opt.Plans == nil {
		return Redemption{}, errors.New("backoffice: redeem plan code: no plans configured")
	}
	acc, err := ledger.AccountByID(ctx, tx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return Redemption{}, ErrAccountNotFound
	}
	if err != nil {
		return Redemption{}, err
	}
	before, err := lockBalance(ctx, tx, acc.PoolID)
	if err != nil {
		return Redemption{}, err
	}
	sub, g, err := s.opt.Plans.CompDaysTx(ctx, tx, plans.CompDaysRequest{AccountID: acc.PoolID, PlanCode: c.PlanCode, Days: c.PlanDays,
		Actor: "customer:" + strconv.FormatInt(accountID, 10), Note: "redemption_batch:" + strconv.FormatInt(c.BatchID, 10)})
	switch {
	case errors.Is(err, plans.ErrAlreadySubscribed):
		return Redemption{}, ErrRedeemPlanInForce
	case errors.Is(err, plans.ErrNotFound):
		return Redemption{}, ErrPlanCodeUnknown
	case err != nil:
		return Redemption{}, err
	}
	var lot *int64
	out := Redemption{BatchID: c.BatchID, Campaign: c.Campaign, Subscription: &sub}
	if g.LotID != 0 {
		lot = &g.LotID
		out.Lot = ledger.Lot{ID: g.LotID, Kind: ledger.LotPlan, Amount: g.Credits, Remaining: g.Credits, ExpiresAt: &g.PeriodEnd}
	}
	if _, err := tx.Exec(ctx, `UPDATE redemption_codes SET lot_id = $2, subscription_id = $3 WHERE id = $1`, c.ID, lot, sub.ID); err != nil {
		return Redemption{}, fmt.Errorf("backoffice: redeem plan code: %w", err)
	}
	after := before.Add(g.Credits)
	_, err = Audit(ctx, tx, Entry{ActorKind: ActorCustomer, IP: ip, Action: ActionCodeRedeemed, AccountID: acc.PoolID,
		BalanceBefore: &before, BalanceAfter: &after, Reason: c.Campaign,
		Detail: map[string]any{"batch_id": c.BatchID, "code_id": c.ID, "code_hint": norm[CodeLength-4:], "plan": sub.PlanCode,
			"plan_version": sub.PlanVersion, "plan_days": c.PlanDays, "subscription_id": sub.ID, "term_end": sub.TermEnd,
			"credits": g.Credits, "lot_id": g.LotID}})
	return out, err
}
