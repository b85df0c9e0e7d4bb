package plans

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// ErrNoUpgradeRefund: the account has no paid upgrade that can be refunded
// now (none in the period in force, the plan changed again since, the
// upgrade's grant month is over, a refund of it was made, or no credit
// price is configured).
var ErrNoUpgradeRefund = errors.New("plans: no refund of an upgrade")

// ReasonUpgradeRefund is the reason code of the expiry event that revokes
// what is left of an upgrade's plan lot when the upgrade is refunded.
const ReasonUpgradeRefund = "plan_upgrade_refund"

// UpgradeRefundTerms are what the upgrade refund rule needs.
type UpgradeRefundTerms struct {
	// PriceFen is what the upgrade cost; it paid for [PricedAt, PeriodEnd).
	PriceFen  int64
	PricedAt  time.Time
	PeriodEnd time.Time
	// Credits is the plan credit the upgrade granted for [PricedAt,
	// GrantEnd) (the billing period of a monthly plan, the month of a
	// yearly one); Consumed what was spent (or is held) of it.
	Credits  decimal.Decimal
	GrantEnd time.Time
	Consumed decimal.Decimal
	// At is when the refund is asked for (or made).
	At time.Time
	// CreditPriceRMB is the price of one credit in yuan.
	CreditPriceRMB decimal.Decimal
}

// UpgradeRefundResult is the upgrade refund rule's result, step by step.
type UpgradeRefundResult struct {
	// UnusedFen is PriceFen × (PeriodEnd − At) ÷ (PeriodEnd − PricedAt),
	// by the whole second, rounded once half to even to the fen.
	UnusedFen int64
	// Entitled is the elapsed share of the upgrade's credit:
	// Credits × (At − PricedAt) ÷ (GrantEnd − PricedAt), rounded with
	// ledger.Round's rule.
	Entitled decimal.Decimal
	// Excess is the upgrade's credit consumed beyond Entitled (≥ 0).
	Excess decimal.Decimal
	// DeductionFen is Excess at the credit price, rounded once.
	DeductionFen int64
	// RefundFen is UnusedFen − DeductionFen, never below 0.
	RefundFen int64
}

// UpgradeRefundRule applies the refund rule of a paid upgrade: the unused
// share of the upgrade payment (by the second, as it was prorated) is paid
// back, minus the upgrade's plan credit consumed beyond the elapsed share
// of it, valued at the credit price; never below 0. Refunding the upgrade
// puts the subscription back on the plan it came from for the rest of the
// period, and what is left of the upgrade's plan lot is taken back.
//
// Errors: ErrInvalidTerms for a negative price, credit or consumption, or a
// credit price that is not positive; ErrOutsidePeriod when At is not in
// [PricedAt, PeriodEnd) or not before GrantEnd (the upgrade's credit has
// expired with its month: a yearly upgrade is refundable within the month
// it was bought).
func UpgradeRefundRule(t UpgradeRefundTerms) (UpgradeRefundResult, error) {
	if t.PriceFen < 0 || t.Credits.IsNegative() || t.Consumed.IsNegative() || !t.CreditPriceRMB.IsPositive() {
		return UpgradeRefundResult{}, fmt.Errorf("%w: upgrade refund terms", ErrInvalidTerms)
	}
	if !t.At.Before(t.PeriodEnd) || !t.At.Before(t.GrantEnd) {
		return UpgradeRefundResult{}, fmt.Errorf("%w: the upgrade's period or month is over", ErrOutsidePeriod)
	}
	remaining, total, err := Remaining(t.PricedAt, t.PeriodEnd, t.At)
	if err != nil {
		return UpgradeRefundResult{}, err
	}
	var res UpgradeRefundResult
	res.UnusedFen = roundHalfEven(new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(t.PriceFen), big.NewInt(remaining)),
		big.NewInt(total))).Int64()
	gRemaining, gTotal, err := Remaining(t.PricedAt, t.GrantEnd, t.At)
	if err != nil {
		return UpgradeRefundResult{}, err
	}
	entitled := t.Credits.Rat()
	entitled.Mul(entitled, big.NewRat(gTotal-gRemaining, gTotal))
	res.Entitled, res.Excess = roundCredits(entitled), decimal.Zero
	if excess := new(big.Rat).Sub(t.Consumed.Rat(), entitled); excess.Sign() > 0 {
		res.Excess = roundCredits(excess)
		value := new(big.Rat).Mul(excess, t.CreditPriceRMB.Rat())
		value.Mul(value, big.NewRat(100, 1))
		res.DeductionFen = roundHalfEven(value).Int64()
	}
	res.RefundFen = max(0, res.UnusedFen-res.DeductionFen)
	return res, nil
}

// UpgradeRefund is the upgrade refund rule applied to the account's last
// paid upgrade, with what it was computed from.
type UpgradeRefund struct {
	Subscription Subscription
	// UpgradeID is the subscription_upgrades row; Upgrade the upgrade.
	UpgradeID int64
	Upgrade   Upgrade
	// From and To are the plan versions upgraded from and to.
	From, To Plan
	// GrantEnd is when the upgrade's credit expires (the period's end, or
	// the month's for a yearly plan).
	GrantEnd time.Time
	// Consumed is the upgrade's plan credit spent (or held) so far.
	Consumed       decimal.Decimal
	CreditPriceRMB decimal.Decimal
	UpgradeRefundResult
}

// UpgradeRefundQuote applies the upgrade refund rule to the account's last
// paid upgrade now, so the portal can show it before the customer asks.
//
// Errors: ErrNotFound (no plan in force), ErrNoUpgradeRefund, database
// errors wrapped with "plans: upgrade refund:".
func (s *Subscriptions) UpgradeRefundQuote(ctx context.Context, accountID int64) (UpgradeRefund, error) {
	at := s.now().UTC()
	sub, err := subscriptionWhere(ctx, s.pool, `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
ORDER BY id DESC LIMIT 1`, accountID, at)
	if err != nil {
		return UpgradeRefund{}, wrap("upgrade refund", err)
	}
	q, err := s.upgradeRefund(ctx, s.pool, sub, at, s.ledger.LotUsage)
	return q, wrap("upgrade refund", err)
}

// upgradeRefund applies the rule to sub's last upgrade in the period in
// force at at: a paid one, to the version sub is on, not refunded yet.
func (s *Subscriptions) upgradeRefund(ctx context.Context, q db.DBTX, sub Subscription, at time.Time,
	usage func(context.Context, []int64) (map[int64]ledger.LotUsage, error)) (UpgradeRefund, error) {
	if !s.creditRMB.IsPositive() || !(sub.State == Active || sub.State == Canceled) || !at.Before(sub.TermEnd) {
		return UpgradeRefund{}, ErrNoUpgradeRefund
	}
	period := sub.Period(at)
	rows, err := q.Query(ctx, `SELECT u.id, u.subscription_id, u.period_start, u.period_end, u.from_plan_code, u.from_plan_version,
    u.to_plan_code, u.to_plan_version, u.cycle, u.price_fen, u.credits, coalesce(u.lot_id, 0) AS lot_id,
    coalesce(u.order_no, '') AS order_no, u.priced_at, u.applied_at
FROM subscription_upgrades u
WHERE u.subscription_id = $1 AND u.period_start = $2
  AND NOT EXISTS (SELECT 1 FROM subscription_upgrade_refunds r WHERE r.upgrade_id = u.id)
ORDER BY u.id DESC LIMIT 1`, sub.ID, period.Start)
	if err != nil {
		return UpgradeRefund{}, err
	}
	type row struct {
		ID int64 `db:"id"`
		Upgrade
	}
	us, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return UpgradeRefund{}, err
	}
	if len(us) == 0 {
		return UpgradeRefund{}, ErrNoUpgradeRefund
	}
	u := us[0]
	if u.OrderNo == "" || u.PriceFen <= 0 || u.ToPlanCode != sub.PlanCode || u.ToPlanVersion != sub.PlanVersion || u.Cycle != sub.Cycle {
		return UpgradeRefund{}, ErrNoUpgradeRefund // free, or the plan changed since
	}
	out := UpgradeRefund{Subscription: sub, UpgradeID: u.ID, Upgrade: u.Upgrade, CreditPriceRMB: s.creditRMB,
		GrantEnd: sub.GrantPeriod(u.PricedAt).End, Consumed: decimal.Zero}
	if out.From, err = planVersion(ctx, q, u.FromPlanCode, u.FromPlanVersion); err != nil {
		return UpgradeRefund{}, err
	}
	if out.To, err = planVersion(ctx, q, u.ToPlanCode, u.ToPlanVersion); err != nil {
		return UpgradeRefund{}, err
	}
	if u.LotID != 0 {
		m, err := usage(ctx, []int64{u.LotID})
		if err != nil {
			return UpgradeRefund{}, err
		}
		if l, ok := m[u.LotID]; ok {
			out.Consumed = l.Amount.Sub(l.Remaining).Sub(l.Expired).Sub(l.Refunded)
		}
	}
	out.UpgradeRefundResult, err = UpgradeRefundRule(UpgradeRefundTerms{PriceFen: u.PriceFen, PricedAt: u.PricedAt,
		PeriodEnd: u.PeriodEnd, Credits: u.Credits, GrantEnd: out.GrantEnd, Consumed: out.Consumed, At: at,
		CreditPriceRMB: s.creditRMB})
	if errors.Is(err, ErrOutsidePeriod) {
		return UpgradeRefund{}, fmt.Errorf("%w: %w", ErrNoUpgradeRefund, err)
	}
	return out, err
}

// RefundUpgrade asks to refund the upgrade that order OrderNo paid.
type RefundUpgrade struct {
	AccountID int64
	OrderNo   string
	// MaxFen caps the refund (what the customer asked for): the rule is
	// applied again when the refund runs, so time passed meanwhile counts
	// as used and the refund is the smaller of the two.
	MaxFen int64
	Actor  string
	Note   string
}

// UpgradeRefunded is what RefundUpgradeTx did.
type UpgradeRefunded struct {
	UpgradeRefund
	// RefundFen is the money to pay back: min(MaxFen, the rule now).
	RefundFen int64
	// Revoked is the upgrade's plan credit taken back; OpID its ledger
	// operation (0 when nothing was left).
	Revoked decimal.Decimal
	OpID    int64
}

// RefundUpgradeTx refunds a paid upgrade inside the caller's transaction
// (the one payments records the refund in): with the subscription row
// locked it applies the rule now, revokes what is left of the upgrade's
// plan lot (a ledger expiry event, reason plan_upgrade_refund), puts the
// subscription back on the plan version it was upgraded from for the rest
// of the period (the unpaid renewal order is repriced), records the refund
// (one per upgrade) and writes an upgrade_refunded event. The upgrade may
// be bought again afterwards.
//
// Errors: ErrNotFound (no plan in force), ErrNoUpgradeRefund (not the last
// paid upgrade in force, another order, refunded already, or the rule
// leaves nothing), ledger errors, database errors.
func (s *Subscriptions) RefundUpgradeTx(ctx context.Context, tx pgx.Tx, r RefundUpgrade) (UpgradeRefunded, error) {
	at := s.now().UTC()
	sub, err := subscriptionWhere(ctx, tx, `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
ORDER BY id DESC LIMIT 1 FOR UPDATE`, r.AccountID, at)
	if err != nil {
		return UpgradeRefunded{}, err
	}
	usage := func(ctx context.Context, ids []int64) (map[int64]ledger.LotUsage, error) {
		return s.ledger.LotUsageTx(ctx, tx, ids)
	}
	q, err := s.upgradeRefund(ctx, tx, sub, at, usage)
	if err != nil {
		return UpgradeRefunded{}, err
	}
	if q.Upgrade.OrderNo != r.OrderNo {
		return UpgradeRefunded{}, fmt.Errorf("%w: order %s did not pay the upgrade in force", ErrNoUpgradeRefund, r.OrderNo)
	}
	out := UpgradeRefunded{UpgradeRefund: q, RefundFen: min(q.RefundFen, r.MaxFen), Revoked: decimal.Zero}
	if out.RefundFen <= 0 {
		return UpgradeRefunded{}, fmt.Errorf("%w: the rule leaves nothing to refund", ErrNoUpgradeRefund)
	}
	if q.Upgrade.LotID != 0 {
		res, err := s.ledger.RevokeTx(ctx, tx, ledger.RevokeRequest{LotID: q.Upgrade.LotID, Actor: r.Actor,
			Reason: ReasonUpgradeRefund, SourceRef: fmt.Sprintf("subscription:%d", sub.ID),
			IdempotencyKey: fmt.Sprintf("plan-upgrade-refund:%d", q.UpgradeID)})
		if err != nil {
			return UpgradeRefunded{}, err
		}
		out.Revoked, out.OpID = res.Revoked, res.OpID
	}
	_, err = tx.Exec(ctx, `
INSERT INTO subscription_upgrade_refunds (upgrade_id, subscription_id, order_no, unused_fen, consumed, entitled, excess,
    deduction_fen, refund_fen, revoked, actor, refunded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, q.UpgradeID, sub.ID, r.OrderNo, q.UnusedFen, q.Consumed,
		q.Entitled, q.Excess, q.DeductionFen, out.RefundFen, out.Revoked, r.Actor, at)
	if db.IsUniqueViolation(err, "subscription_upgrade_refunds_pkey") || db.IsUniqueViolation(err, "subscription_upgrade_refunds_order_no_key") {
		return UpgradeRefunded{}, fmt.Errorf("%w: refunded already", ErrNoUpgradeRefund)
	}
	if err != nil {
		return UpgradeRefunded{}, err
	}
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET plan_code = $2, plan_version = $3, updated_at = $4
WHERE id = $1 RETURNING `+subscriptionColumns, sub.ID, q.Upgrade.FromPlanCode, q.Upgrade.FromPlanVersion, at)
	if err != nil {
		return UpgradeRefunded{}, err
	}
	back, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return UpgradeRefunded{}, err
	}
	back = back.utc()
	note := fmt.Sprintf("%s %s: %d fen", planRef(q.Upgrade.ToPlanCode, q.Upgrade.ToPlanVersion, sub.Cycle), r.OrderNo, out.RefundFen)
	if r.Note != "" {
		note += "; " + r.Note
	}
	if rs := []rune(note); len(rs) > 500 {
		note = string(rs[:500])
	}
	if err := insertEvent(ctx, tx, back, EventUpgradeRefunded, r.Actor, note, at); err != nil {
		return UpgradeRefunded{}, err
	}
	if err := s.repriceRenewalTx(ctx, tx, back, at); err != nil {
		return UpgradeRefunded{}, err
	}
	out.Subscription = back
	return out, nil
}
