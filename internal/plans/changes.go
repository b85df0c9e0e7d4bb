package plans

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// # Changing plans
//
// A change names a plan (its latest version) and a cycle. It is an upgrade
// when the new plan ranks higher (a higher tier; at the same tier, another
// plan with a higher monthly price) in the same cycle: it applies at once,
// costs UpgradePrice over the billing period and grants UpgradeCredits over
// the month as a plan lot expiring at the month's end (the period's end for
// a monthly plan). Every other change — a lower tier, yearly → monthly,
// monthly → yearly of the same plan — is scheduled for the term's end
// (next_plan_*) and applied by the renewal there; the plan in force and its
// plan credits stay until then. A higher tier in another cycle is refused
// (upgrade first, then change the cycle). An upgrade clears a scheduled
// change. Only an active subscription changes: a past-due one must be paid
// first, a canceled one resumed first (a comp is never changed).
//
// Renewal orders follow the plan: a change reprices the unpaid renewal
// order of the next period (renewalPlan), and a payment order opened for
// the renewal before the change, paid after it, is superseded (RenewPaidTx
// refuses it: payments sends it to review, to be refunded).

// Errors of plan changes.
var (
	// ErrPastDue: the term ended unpaid; the renewal must be paid before the
	// plan can change.
	ErrPastDue = errors.New("plans: the plan is past due; pay the renewal first")
	// ErrNotChangeable: the subscription is canceled (resume it first) or
	// comped.
	ErrNotChangeable = errors.New("plans: the plan cannot be changed now")
	// ErrSamePlan: the change names the plan and cycle in force.
	ErrSamePlan = errors.New("plans: already on that plan")
	// ErrCycleWithUpgrade: an upgrade keeps the billing cycle.
	ErrCycleWithUpgrade = errors.New("plans: an upgrade keeps the billing cycle")
	// ErrNoScheduledChange: there is no scheduled change to withdraw.
	ErrNoScheduledChange = errors.New("plans: no change scheduled")
	// ErrNotCanceled: only a subscription the customer canceled can resume.
	ErrNotCanceled = errors.New("plans: the plan is not canceled")
	// ErrNextPeriodPaid: the next period was paid already (sold as the
	// plan it was paid for): the plan can change once it has begun.
	ErrNextPeriodPaid = errors.New("plans: the next period is paid already")
	// ErrUpgradeSuperseded: a paid upgrade no longer fits the subscription
	// (it changed plan or period since the upgrade was priced, or another
	// upgrade from the same plan applied first).
	ErrUpgradeSuperseded = errors.New("plans: the subscription changed since the upgrade was priced")
)

// ChangeKind is how a change applies.
type ChangeKind string

// The change kinds.
const (
	// ChangeUpgrade applies at once, prorated.
	ChangeUpgrade ChangeKind = "upgrade"
	// ChangeScheduled applies at the term's end (a downgrade or a cycle change).
	ChangeScheduled ChangeKind = "scheduled"
)

// Change is a plan change priced at At.
type Change struct {
	Kind           ChangeKind
	SubscriptionID int64
	From           Plan
	FromCycle      Cycle
	To             Plan
	ToCycle        Cycle
	At             time.Time
	// Period is the billing period an upgrade is prorated over;
	// GrantPeriod the month its credits are granted for (and expire with).
	Period      Period
	GrantPeriod Period
	// PriceFen is what an upgrade costs; Credits the plan credit it grants.
	PriceFen int64
	Credits  decimal.Decimal
	// EffectiveAt is when the change applies: At for an upgrade, the term's
	// end for a scheduled change.
	EffectiveAt time.Time
	// NextPriceFen is the new plan's price for one cycle (what renewals cost).
	NextPriceFen int64
	// Applied: the change was made (scheduled, or an upgrade that cost
	// nothing); false for a priced upgrade awaiting payment.
	Applied bool
}

// outranks reports whether plan a ranks above b: a higher tier, or at the
// same tier another plan with a higher monthly price.
func outranks(a, b Plan) bool {
	if a.Tier != b.Tier {
		return a.Tier > b.Tier
	}
	return a.Code != b.Code && a.MonthlyPriceFen > b.MonthlyPriceFen
}

// Classify says how changing from plan `from` in fromCycle to plan `to` in
// toCycle applies: an upgrade (to outranks from, same cycle) at once, any
// other change at the term's end.
//
// Errors: ErrSamePlan (the same plan and cycle); ErrCycleWithUpgrade (a
// higher plan in another cycle).
func Classify(from Plan, fromCycle Cycle, to Plan, toCycle Cycle) (ChangeKind, error) {
	switch {
	case to.Code == from.Code && toCycle == fromCycle:
		return "", ErrSamePlan
	case !outranks(to, from):
		return ChangeScheduled, nil
	case toCycle != fromCycle:
		return "", ErrCycleWithUpgrade
	}
	return ChangeUpgrade, nil
}

// PriceChange classifies and prices changing sub from plan `from` (the
// version in force) to plan `to` in cycle at `at`: an upgrade costs
// UpgradePrice from the price of the plan in force over the billing period
// containing at (so a second upgrade in a period is priced from the first
// one's plan) and grants UpgradeCredits over the month; a scheduled change
// costs nothing now and applies at the term's end. A plan ranking higher
// but cheaper in the cycle costs nothing.
//
// Errors: ErrSamePlan; ErrCycleWithUpgrade; ErrOutsidePeriod when at is
// outside the subscription's term.
func PriceChange(sub Subscription, from, to Plan, cycle Cycle, at time.Time) (Change, error) {
	c := Change{SubscriptionID: sub.ID, From: from, FromCycle: sub.Cycle, To: to, ToCycle: cycle, At: at,
		NextPriceFen: priceFor(to, cycle), Credits: decimal.Zero}
	kind, err := Classify(from, sub.Cycle, to, cycle)
	if err != nil {
		return Change{}, err
	}
	if kind == ChangeScheduled {
		c.Kind, c.EffectiveAt = ChangeScheduled, sub.TermEnd
		return c, nil
	}
	if at.Before(sub.StartedAt) || !at.Before(sub.TermEnd) {
		return Change{}, fmt.Errorf("%w: the term is [%s, %s)", ErrOutsidePeriod, sub.StartedAt.Format(time.RFC3339), sub.TermEnd.Format(time.RFC3339))
	}
	c.Kind, c.EffectiveAt = ChangeUpgrade, at
	c.Period, c.GrantPeriod = sub.Period(at), sub.GrantPeriod(at)
	newFen := priceFor(to, cycle)
	if c.PriceFen, err = UpgradePrice(min(priceFor(from, cycle), newFen), newFen, c.Period.Start, c.Period.End, at); err != nil {
		return Change{}, err
	}
	if c.Credits, err = UpgradeCredits(from.MonthlyCredits, to.MonthlyCredits, c.GrantPeriod.Start, c.GrantPeriod.End, at); err != nil {
		return Change{}, err
	}
	return c, nil
}

// changeable says why sub cannot change plan at at, if it cannot.
func changeable(sub Subscription, at time.Time) error {
	switch {
	case sub.State == PastDue || (sub.State == Active && !at.Before(sub.TermEnd)):
		return ErrPastDue
	case sub.State == Canceled:
		return ErrNotChangeable
	case sub.State != Active || !sub.InForce(at):
		return ErrNotFound
	}
	return nil
}

// nextPeriodPaid reports whether the subscription's next period was paid
// before it began: what it was sold as is settled, so the plan waits.
func nextPeriodPaid(ctx context.Context, q db.DBTX, sub Subscription, at time.Time) (bool, error) {
	var paid bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subscription_renewals
WHERE subscription_id = $1 AND renewed_at IS NOT NULL AND period_start > $2)`, sub.ID, at).Scan(&paid)
	return paid, err
}

// extendForChange moves a locked subscription's term on to a paid
// renewal's end while the plan in force stays: the renewal's plan,
// version and cycle wait as next_* for the renewal's period.
func extendForChange(ctx context.Context, tx pgx.Tx, id int64, ren Renewal, now time.Time) (Subscription, error) {
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET term_end = $2, state = 'active', grace_until = NULL, next_plan_code = $3, next_plan_version = $4,
    next_cycle = $5, updated_at = $6
WHERE id = $1
RETURNING `+subscriptionColumns, id, ren.PeriodEnd, ren.PlanCode, ren.PlanVersion, ren.Cycle, now)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	return sub.utc(), err
}

// switchDueTx applies, inside tx with the subscription locked, a change
// whose paid period has begun by at (extendForChange): the subscription
// takes the renewal's plan, version and cycle, and downgraded is written.
func switchDueTx(ctx context.Context, tx pgx.Tx, sub Subscription, at time.Time) (Subscription, error) {
	if sub.NextPlanCode == "" {
		return sub, nil
	}
	ren, err := renewalWhere(ctx, tx, `subscription_id = $1 AND renewed_at IS NOT NULL AND period_start <= $2 AND period_end > $2
AND plan_code = $3 AND plan_version = $4 AND cycle = $5`, sub.ID, at, sub.NextPlanCode, sub.NextPlanVersion, sub.NextCycle)
	if errors.Is(err, ErrNotFound) {
		return sub, nil
	}
	if err != nil {
		return Subscription{}, err
	}
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET plan_code = $2, plan_version = $3, cycle = $4, next_plan_code = NULL, next_plan_version = NULL,
    next_cycle = NULL, updated_at = $5
WHERE id = $1
RETURNING `+subscriptionColumns, sub.ID, ren.PlanCode, ren.PlanVersion, ren.Cycle, at)
	if err != nil {
		return Subscription{}, err
	}
	next, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return Subscription{}, err
	}
	next = next.utc()
	return next, insertEvent(ctx, tx, next, EventDowngraded, "plans", "from "+planRef(sub.PlanCode, sub.PlanVersion, sub.Cycle), at)
}

// accountSubscription reads the account's subscription in force at at,
// locked when lock.
func accountSubscription(ctx context.Context, q db.DBTX, accountID int64, at time.Time, lock bool) (Subscription, error) {
	where := `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND ` + inForceSQL + ` ORDER BY id DESC LIMIT 1`
	if lock {
		where += ` FOR UPDATE`
	}
	return subscriptionWhere(ctx, q, where, accountID, at)
}

// priceChangeTx prices a change of sub at at, reading the plans through q.
func priceChange(ctx context.Context, q db.DBTX, sub Subscription, code string, cycle Cycle, at time.Time) (Change, error) {
	if cycle != Monthly && cycle != Yearly {
		return Change{}, fmt.Errorf("%w: cycle %q", ErrInvalidTerm, cycle)
	}
	if err := changeable(sub, at); err != nil {
		return Change{}, err
	}
	if paid, err := nextPeriodPaid(ctx, q, sub, at); err != nil || paid {
		if err == nil {
			err = ErrNextPeriodPaid
		}
		return Change{}, err
	}
	from, err := planVersion(ctx, q, sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return Change{}, err
	}
	to, err := latest(ctx, q, code)
	if err != nil {
		return Change{}, err
	}
	return PriceChange(sub, from, to, cycle, at)
}

func planVersion(ctx context.Context, q db.DBTX, code string, version int) (Plan, error) {
	ps, err := loadPlans(ctx, q, `WHERE code = $1 AND version = $2`, code, version)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) == 0 {
		return Plan{}, ErrNotFound
	}
	return ps[0], nil
}

// PreviewChange prices changing the account's plan to the latest version
// of code in cycle now, changing nothing: what the portal shows before the
// customer confirms (and pays).
//
// Errors: ErrNotFound (no plan in force, or no such plan); ErrPastDue;
// ErrNotChangeable; ErrSamePlan; ErrCycleWithUpgrade; ErrInvalidTerm;
// database errors wrapped with "plans: preview change:".
func (s *Subscriptions) PreviewChange(ctx context.Context, accountID int64, code string, cycle Cycle) (Change, error) {
	now := s.now().UTC()
	sub, err := accountSubscription(ctx, s.pool, accountID, now, false)
	if err != nil {
		return Change{}, wrap("preview change", err)
	}
	c, err := priceChange(ctx, s.pool, sub, code, cycle, now)
	return c, wrap("preview change", err)
}

// ChangeRequest is the customer asking to change plan.
type ChangeRequest struct {
	AccountID int64
	PlanCode  string
	Cycle     Cycle
	Actor     string
}

// ChangePlan changes the account's plan as PriceChange classifies it, in
// one transaction with the subscription locked: a scheduled change is
// recorded for the term's end (replacing one scheduled before; event
// downgrade_scheduled, webhook subscription.downgrade_scheduled); an
// upgrade that costs nothing applies at once (ApplyUpgrade's effects). An
// upgrade that costs something is only priced (Applied false): the caller
// takes payment (payments, purpose plan_upgrade) and UpgradePaidTx applies it.
//
// Errors: as PreviewChange; *ValidationError (CodeNoActor); ledger errors
// of the grant; wrapped with "plans: change plan:".
func (s *Subscriptions) ChangePlan(ctx context.Context, r ChangeRequest) (Change, error) {
	if r.Actor == "" {
		return Change{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	var c Change
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := accountSubscription(ctx, tx, r.AccountID, now, true)
		if err != nil {
			return err
		}
		if c, err = priceChange(ctx, tx, sub, r.PlanCode, r.Cycle, now); err != nil {
			return err
		}
		switch {
		case c.Kind == ChangeScheduled:
			if err := s.scheduleTx(ctx, tx, sub, c, r.Actor, now); err != nil {
				return err
			}
		case c.PriceFen == 0:
			if err := s.applyUpgradeTx(ctx, tx, sub, c, "", r.Actor, now); err != nil {
				return err
			}
		default:
			return nil
		}
		c.Applied = true
		return nil
	})
	return c, wrap("change plan", err)
}

// planRef is how events and notes name a plan: "code:version:cycle".
func planRef(code string, version int, cycle Cycle) string {
	return fmt.Sprintf("%s:%d:%s", code, version, cycle)
}

// scheduleTx records change c for the locked subscription's term end.
func (s *Subscriptions) scheduleTx(ctx context.Context, tx pgx.Tx, sub Subscription, c Change, actor string, now time.Time) error {
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET next_plan_code = $2, next_plan_version = $3, next_cycle = $4, updated_at = $5 WHERE id = $1
RETURNING `+subscriptionColumns, sub.ID, c.To.Code, c.To.Version, c.ToCycle, now)
	if err != nil {
		return err
	}
	next, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return err
	}
	next = next.utc()
	id, err := insertEventID(ctx, tx, next, EventDowngradeScheduled, actor, planRef(c.To.Code, c.To.Version, c.ToCycle), now)
	if err != nil {
		return err
	}
	if err := s.repriceRenewalTx(ctx, tx, next, now); err != nil {
		return err
	}
	return s.notify(ctx, tx, Notice{Kind: EventDowngradeScheduled, Subscription: next, EventID: id})
}

// repriceRenewalTx brings the unpaid renewal order of the locked
// subscription's next period, if one was made, up to date with
// renewalPlan (the plan the next period is now sold as).
func (s *Subscriptions) repriceRenewalTx(ctx context.Context, tx pgx.Tx, sub Subscription, now time.Time) error {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM subscription_renewals WHERE subscription_id = $1 AND period_start = $2 AND renewed_at IS NULL`,
		sub.ID, sub.TermEnd).Scan(&n)
	if err != nil || n == 0 {
		return err
	}
	_, _, err = s.orderRenewalTx(ctx, tx, sub, now)
	return err
}

// WithdrawChange withdraws the change scheduled for the term's end: the
// plan in force renews as it is (event change_withdrawn).
//
// Errors: ErrNotFound (no plan in force); ErrPastDue; ErrNotChangeable;
// ErrNoScheduledChange; *ValidationError (CodeNoActor); database errors
// wrapped with "plans: withdraw change:".
func (s *Subscriptions) WithdrawChange(ctx context.Context, accountID int64, actor string) (Subscription, error) {
	if actor == "" {
		return Subscription{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	var next Subscription
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := accountSubscription(ctx, tx, accountID, now, true)
		if err != nil {
			return err
		}
		if err := changeable(sub, now); err != nil {
			return err
		}
		if sub.NextPlanCode == "" {
			return ErrNoScheduledChange
		}
		if paid, err := nextPeriodPaid(ctx, tx, sub, now); err != nil || paid {
			if err == nil {
				err = ErrNextPeriodPaid
			}
			return err
		}
		if next, err = clearScheduled(ctx, tx, sub.ID, now); err != nil {
			return err
		}
		if _, err := insertEventID(ctx, tx, next, EventChangeWithdrawn, actor,
			planRef(sub.NextPlanCode, sub.NextPlanVersion, sub.NextCycle), now); err != nil {
			return err
		}
		return s.repriceRenewalTx(ctx, tx, next, now)
	})
	return next, wrap("withdraw change", err)
}

func clearScheduled(ctx context.Context, tx pgx.Tx, id int64, now time.Time) (Subscription, error) {
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET next_plan_code = NULL, next_plan_version = NULL, next_cycle = NULL, updated_at = $2 WHERE id = $1
RETURNING `+subscriptionColumns, id, now)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	return sub.utc(), err
}

// UpgradeKey is the ledger idempotency key of the plan lot an upgrade
// grants: one per (subscription, period, plan upgraded from); a later
// round after a refund of it adds ":<round>".
func UpgradeKey(subscriptionID int64, periodStart time.Time, fromCode string, fromVersion int) string {
	return fmt.Sprintf("plan-upgrade:%d:%d:%s:%d", subscriptionID, periodStart.Unix(), fromCode, fromVersion)
}

// applyUpgradeTx applies upgrade c to the locked subscription sub: the
// subscription takes the new version (a scheduled change is cleared), the
// credit difference is granted as a plan lot expiring at the grant
// period's end, subscription_upgrades records it (one per from-version and
// period: a second one is ErrUpgradeSuperseded), the unpaid renewal order
// is repriced, and upgraded is written and announced.
func (s *Subscriptions) applyUpgradeTx(ctx context.Context, tx pgx.Tx, sub Subscription, c Change, orderNo, actor string, now time.Time) error {
	// An upgrade refunded earlier in the period (RefundUpgradeTx) may be
	// bought again: each round has a lot and a row of its own.
	var round int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM subscription_upgrade_refunds r
JOIN subscription_upgrades u ON u.id = r.upgrade_id
WHERE u.subscription_id = $1 AND u.period_start = $2 AND u.from_plan_code = $3 AND u.from_plan_version = $4`,
		sub.ID, c.Period.Start, sub.PlanCode, sub.PlanVersion).Scan(&round); err != nil {
		return err
	}
	key := UpgradeKey(sub.ID, c.Period.Start, sub.PlanCode, sub.PlanVersion)
	if round > 0 {
		key += fmt.Sprintf(":%d", round)
	}
	var lot *int64
	if c.Credits.IsPositive() {
		exp := c.GrantPeriod.End
		res, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{AccountID: sub.AccountID, Kind: ledger.LotPlan,
			Amount: c.Credits, ExpiresAt: &exp, EventType: ledger.EventGrant,
			SourceRef: fmt.Sprintf("subscription:%d", sub.ID), Actor: actor, ReasonCode: "plan_upgrade",
			IdempotencyKey: key})
		if err != nil {
			return err
		}
		lot = &res.Lot.ID
	}
	var order *string
	if orderNo != "" {
		order = &orderNo
	}
	_, err := tx.Exec(ctx, `
INSERT INTO subscription_upgrades (subscription_id, period_start, period_end, from_plan_code, from_plan_version,
    to_plan_code, to_plan_version, cycle, price_fen, credits, lot_id, order_no, priced_at, applied_at, round)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		sub.ID, c.Period.Start, c.Period.End, sub.PlanCode, sub.PlanVersion, c.To.Code, c.To.Version, sub.Cycle,
		c.PriceFen, c.Credits, lot, order, c.At, now, round)
	if db.IsUniqueViolation(err, "subscription_upgrades_from_key") || db.IsUniqueViolation(err, "subscription_upgrades_order_no_key") {
		return ErrUpgradeSuperseded
	}
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET plan_code = $2, plan_version = $3, next_plan_code = NULL, next_plan_version = NULL, next_cycle = NULL,
    updated_at = $4
WHERE id = $1
RETURNING `+subscriptionColumns, sub.ID, c.To.Code, c.To.Version, now)
	if err != nil {
		return err
	}
	next, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return err
	}
	next = next.utc()
	id, err := insertEventID(ctx, tx, next, EventUpgraded, actor, planRef(sub.PlanCode, sub.PlanVersion, sub.Cycle), now)
	if err != nil {
		return err
	}
	if err := s.repriceRenewalTx(ctx, tx, next, now); err != nil {
		return err
	}
	return s.notify(ctx, tx, Notice{Kind: EventUpgraded, Subscription: next, EventID: id,
		Upgrade: &UpgradeNotice{FromPlan: sub.PlanCode, FromVersion: sub.PlanVersion, PriceFen: c.PriceFen, Credits: c.Credits}})
}

// UpgradePaid is a paid upgrade order: the subscription, the version it
// was priced from, the plan it buys, what was paid and when it was priced.
type UpgradePaid struct {
	SubscriptionID int64
	FromCode       string
	FromVersion    int
	ToCode         string
	ToVersion      int
	Cycle          Cycle
	PriceFen       int64
	PricedAt       time.Time
	OrderNo        string
	Actor          string
}

// UpgradePaidTx applies a paid upgrade inside the caller's transaction tx
// (payments calls it in the transaction that marks the order paid), once
// per order: the subscription must still be active on the version, cycle
// and period the upgrade was priced in. Credits are those of the instant
// it was priced (what the preview showed); the price is what was paid.
//
// Errors: ErrUpgradeSuperseded (the subscription changed since, or the
// order was applied already); ErrNotFound; ledger errors; database errors.
func (s *Subscriptions) UpgradePaidTx(ctx context.Context, tx pgx.Tx, u UpgradePaid) (Change, error) {
	now := s.now().UTC()
	sub, err := subscriptionWhere(ctx, tx, `id = $1 FOR UPDATE`, u.SubscriptionID)
	if err != nil {
		return Change{}, err
	}
	if changeable(sub, now) != nil || sub.PlanCode != u.FromCode || sub.PlanVersion != u.FromVersion || sub.Cycle != u.Cycle ||
		u.PricedAt.Before(sub.Anchor) || sub.Period(u.PricedAt) != sub.Period(now) {
		return Change{}, ErrUpgradeSuperseded
	}
	if paid, err := nextPeriodPaid(ctx, tx, sub, now); err != nil || paid {
		if err == nil {
			err = ErrUpgradeSuperseded // priced before the next period was paid
		}
		return Change{}, err
	}
	from, err := planVersion(ctx, tx, u.FromCode, u.FromVersion)
	if err != nil {
		return Change{}, err
	}
	to, err := planVersion(ctx, tx, u.ToCode, u.ToVersion)
	if err != nil {
		return Change{}, err
	}
	c, err := PriceChange(sub, from, to, u.Cycle, u.PricedAt)
	if err != nil || c.Kind != ChangeUpgrade {
		return Change{}, ErrUpgradeSuperseded
	}
	c.PriceFen, c.Applied = u.PriceFen, true
	return c, s.applyUpgradeTx(ctx, tx, sub, c, u.OrderNo, u.Actor, now)
}

// Cancel turns renewal off: the subscription is canceled and stays in
// force to its term's end, then expires (event canceled, webhook
// subscription.canceled). Canceling a canceled subscription changes nothing.
//
// Errors: ErrNotFound (no plan in force); ErrPastDue; *ValidationError
// (CodeNoActor); database errors wrapped with "plans: cancel:".
func (s *Subscriptions) Cancel(ctx context.Context, accountID int64, actor string) (Subscription, error) {
	return s.setRenewal(ctx, accountID, actor, Canceled)
}

// Resume turns renewal back on for a subscription the customer canceled,
// before its term's end (event resumed). Resuming an active subscription
// changes nothing.
//
// Errors: ErrNotFound (no plan in force); ErrNotCanceled (a comp, which
// never renews); *ValidationError (CodeNoActor); database errors wrapped
// with "plans: resume:".
func (s *Subscriptions) Resume(ctx context.Context, accountID int64, actor string) (Subscription, error) {
	return s.setRenewal(ctx, accountID, actor, Active)
}

func (s *Subscriptions) setRenewal(ctx context.Context, accountID int64, actor string, to State) (Subscription, error) {
	op := map[State]string{Canceled: "cancel", Active: "resume"}[to]
	if actor == "" {
		return Subscription{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	var next Subscription
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := accountSubscription(ctx, tx, accountID, now, true)
		if err != nil {
			return err
		}
		next = sub
		switch {
		case sub.State == PastDue || !now.Before(sub.TermEnd):
			return ErrPastDue
		case sub.State == to:
			return nil
		case to == Active:
			var last EventKind
			err := tx.QueryRow(ctx, `SELECT kind FROM subscription_events WHERE subscription_id = $1
AND kind IN ('created', 'comped', 'granted', 'canceled', 'resumed') ORDER BY id DESC LIMIT 1`, sub.ID).Scan(&last)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if last != EventCanceled {
				return ErrNotCanceled
			}
		}
		if next, err = setState(ctx, tx, sub.ID, to, nil, now); err != nil {
			return err
		}
		kind := EventCanceled
		if to == Active {
			kind = EventResumed
		}
		id, err := insertEventID(ctx, tx, next, kind, actor, "", now)
		if err != nil {
			return err
		}
		return s.notify(ctx, tx, Notice{Kind: kind, Subscription: next, EventID: id})
	})
	return next, wrap(op, err)
}

// insertEventID writes a subscription event and returns its id.
func insertEventID(ctx context.Context, tx pgx.Tx, sub Subscription, kind EventKind, actor, note string, at time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `
INSERT INTO subscription_events (subscription_id, kind, plan_code, plan_version, term_end, actor, note, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, sub.ID, kind, sub.PlanCode, sub.PlanVersion, sub.TermEnd, actor, note, at).Scan(&id)
	return id, err
}

// PlanRef is a plan named by an event's note: code, version and cycle.
type PlanRef struct {
	Code    string
	Version int
	Cycle   Cycle
}

// Other returns the other plan of a change event, read from its note: the
// plan upgraded or downgraded from, the plan a change was scheduled (or
// withdrawn) to, the plan a renewal order sells. ok is false for events
// without one.
func (e Event) Other() (PlanRef, bool) {
	switch e.Kind {
	case EventUpgraded, EventDowngraded, EventDowngradeScheduled, EventChangeWithdrawn, EventRenewalOrdered, EventUpgradeRefunded:
	default:
		return PlanRef{}, false
	}
	fs := strings.Fields(e.Note)
	if len(fs) > 1 && (fs[0] == "from" || fs[0] == "to") {
		fs = fs[1:]
	}
	if len(fs) == 0 {
		return PlanRef{}, false
	}
	f := strings.Split(fs[0], ":")
	if len(f) != 3 {
		return PlanRef{}, false
	}
	v, err := strconv.Atoi(f[1])
	if err != nil {
		return PlanRef{}, false
	}
	return PlanRef{Code: f[0], Version: v, Cycle: Cycle(f[2])}, true
}

// Upgrades returns a subscription's applied upgrades, oldest first.
//
// Errors: database errors wrapped with "plans: upgrades:".
func (s *Subscriptions) Upgrades(ctx context.Context, subscriptionID int64) ([]Upgrade, error) {
	rows, err := s.pool.Query(ctx, `SELECT subscription_id, period_start, period_end, from_plan_code, from_plan_version,
to_plan_code, to_plan_version, cycle, price_fen, credits, coalesce(lot_id, 0) AS lot_id, coalesce(order_no, '') AS order_no,
priced_at, applied_at FROM subscription_upgrades WHERE subscription_id = $1 ORDER BY id`, subscriptionID)
	if err != nil {
		return nil, wrap("upgrades", err)
	}
	us, err := pgx.CollectRows(rows, pgx.RowToStructByName[Upgrade])
	return us, wrap("upgrades", err)
}

// Upgrade is one applied upgrade.
type Upgrade struct {
	SubscriptionID  int64           `db:"subscription_id"`
	PeriodStart     time.Time       `db:"period_start"`
	PeriodEnd       time.Time       `db:"period_end"`
	FromPlanCode    string          `db:"from_plan_code"`
	FromPlanVersion int             `db:"from_plan_version"`
	ToPlanCode      string          `db:"to_plan_code"`
	ToPlanVersion   int             `db:"to_plan_version"`
	Cycle           Cycle           `db:"cycle"`
	PriceFen        int64           `db:"price_fen"`
	Credits         decimal.Decimal `db:"credits"`
	LotID           int64           `db:"lot_id"`
	OrderNo         string          `db:"order_no"`
	PricedAt        time.Time       `db:"priced_at"`
	AppliedAt       time.Time       `db:"applied_at"`
}

// Resumable reports whether a canceled subscription with these events
// (oldest first) may resume: the customer canceled it — its last event
// about renewal is canceled (a comp or a staff grant never renews).
func Resumable(events []Event) bool {
	for _, e := range slices.Backward(events) {
		switch e.Kind {
		case EventCanceled:
			return true
		case EventCreated, EventComped, EventGranted, EventResumed:
			return false
		}
	}
	return false
}
