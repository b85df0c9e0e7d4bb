package plans

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// ErrNoYearRefund: the account's plan in force is not a paid yearly period
// that can be refunded (a monthly plan, a comp or a grant, a year in grace,
// a year whose cycle changed mid-anchor, or no yearly refunds configured).
var ErrNoYearRefund = errors.New("plans: no refund of a yearly plan")

// ReasonPlanRefund is the reason code of the expiry events that revoke the
// remaining plan lots when a yearly plan is refunded.
const ReasonPlanRefund = "plan_refund"

// YearRefund is the yearly refund rule (YearlyRefund) applied to the year
// of an account's subscription in force, with what it was computed from.
type YearRefund struct {
	Subscription Subscription
	Plan         Plan
	// OrderNo is the payment order that paid the year (the plan order, or
	// the renewal order of the year).
	OrderNo string
	// PaidFen is the year's price as it was bought.
	PaidFen int64
	// Consumed is the plan credit spent (or held by open calls) in the year.
	Consumed decimal.Decimal
	// CreditPriceRMB is the price the excess is valued at.
	CreditPriceRMB decimal.Decimal
	Refund
}

// YearRefundQuote applies the yearly refund rule to the account's plan in
// force now, so the portal can show it before the customer asks.
//
// Errors: ErrNotFound (no plan in force), ErrNoYearRefund, database errors
// wrapped with "plans: year refund:".
func (s *Subscriptions) YearRefundQuote(ctx context.Context, accountID int64) (YearRefund, error) {
	at := s.now().UTC()
	sub, err := subscriptionWhere(ctx, s.pool, `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
ORDER BY id DESC LIMIT 1`, accountID, at)
	if err != nil {
		return YearRefund{}, wrap("year refund", err)
	}
	q, err := s.yearRefund(ctx, s.pool, sub, at, s.ledger.LotUsage)
	return q, wrap("year refund", err)
}

// yearRefund applies the rule to sub's year containing at. usage reads the
// plan lots (locking their pool inside a refund's transaction).
func (s *Subscriptions) yearRefund(ctx context.Context, q db.DBTX, sub Subscription, at time.Time,
	usage func(context.Context, []int64) (map[int64]ledger.LotUsage, error)) (YearRefund, error) {
	if at.Before(sub.Anchor) { // just extended: the moved year has not begun
		return YearRefund{}, ErrNoYearRefund
	}
	if !s.creditRMB.IsPositive() || sub.Cycle != Yearly || !(sub.State == Active || sub.State == Canceled) || !at.Before(sub.TermEnd) {
		return YearRefund{}, ErrNoYearRefund
	}
	year := sub.Period(at)
	if _, ys, ye := PeriodContaining(sub.Anchor, Yearly, at); !ys.Equal(year.Start) || !ye.Equal(year.End) {
		return YearRefund{}, ErrNoYearRefund
	}
	ps, err := loadPlans(ctx, q, `WHERE code = $1 AND version = $2`, sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return YearRefund{}, err
	}
	if len(ps) == 0 {
		return YearRefund{}, ErrNotFound
	}
	out := YearRefund{Subscription: sub, Plan: ps[0], CreditPriceRMB: s.creditRMB}
	if year.Start.Equal(sub.Anchor) {
		// The first year: the order that created it (a comp or a grant has none).
		err := q.QueryRow(ctx, `SELECT note FROM subscription_events WHERE subscription_id = $1 AND kind = 'created'
AND actor LIKE 'payments:%' ORDER BY id LIMIT 1`, sub.ID).Scan(&out.OrderNo)
		if errors.Is(err, pgx.ErrNoRows) {
			return YearRefund{}, ErrNoYearRefund
		}
		if err != nil {
			return YearRefund{}, err
		}
		out.PaidFen = out.Plan.YearlyPriceFen
	} else {
		r, err := renewalWhere(ctx, q, `subscription_id = $1 AND period_start = $2 AND renewed_at IS NOT NULL`, sub.ID, year.Start)
		if errors.Is(err, ErrNotFound) || (err == nil && r.OrderNo == "") {
			return YearRefund{}, ErrNoYearRefund // a free renewal: nothing was paid
		}
		if err != nil {
			return YearRefund{}, err
		}
		out.OrderNo, out.PaidFen = r.OrderNo, r.PriceFen
	}
	if strings.TrimSpace(out.OrderNo) == "" {
		return YearRefund{}, ErrNoYearRefund
	}
	lots, err := s.yearLots(ctx, q, sub.ID, year, at)
	if err != nil {
		return YearRefund{}, err
	}
	out.Consumed = decimal.Zero
	if len(lots) > 0 {
		us, err := usage(ctx, lots)
		if err != nil {
			return YearRefund{}, err
		}
		for _, u := range us {
			out.Consumed = out.Consumed.Add(u.Amount.Sub(u.Remaining).Sub(u.Expired).Sub(u.Refunded))
		}
	}
	out.Refund, err = YearlyRefund(RefundTerms{YearlyPriceFen: out.PaidFen, MonthlyCredits: out.Plan.MonthlyCredits,
		Anchor: sub.Anchor, At: at, Consumed: out.Consumed, CreditPriceRMB: s.creditRMB})
	return out, err
}

// yearLots are the plan lots granted to the subscription in year up to at.
func (s *Subscriptions) yearLots(ctx context.Context, q db.DBTX, subID int64, year Period, at time.Time) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT lot_id FROM subscription_grants
WHERE subscription_id = $1 AND lot_id IS NOT NULL AND period_start >= $2 AND period_start < $3 AND period_start <= $4
ORDER BY period_start`, subID, year.Start, year.End, at)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// RefundYear asks to refund the yearly plan that order OrderNo paid.
type RefundYear struct {
	AccountID int64
	OrderNo   string
	// MaxFen caps the refund (what the customer asked for): the rule is
	// applied again when the refund runs, and months that began meanwhile
	// count as used, so the refund is the smaller of the two.
	MaxFen int64
	Actor  string
	Note   string
}

// YearRefunded is what RefundYearTx did.
type YearRefunded struct {
	YearRefund
	// RefundFen is the money to pay back: min(MaxFen, the rule now).
	RefundFen int64
	// Revoked is the plan credit taken back; OpID the last revocation's
	// ledger operation (0 when nothing was left).
	Revoked decimal.Decimal
	OpID    int64
}

// RefundYearTx refunds a yearly plan inside the caller's transaction (the
// one payments records the refund in): with the subscription row locked it
// applies the rule now, revokes what is left of the subscription's plan
// lots (ledger expiry events, reason plan_refund) and ends the subscription
// (state expired, term end now, the scheduled change dropped) with a
// refunded event. A second call finds the subscription ended and fails, so
// a year is refunded once.
//
// Errors: ErrNotFound (no plan in force), ErrNoYearRefund (not a paid
// yearly year, another order paid it, or the rule leaves nothing), ledger
// errors, database errors.
func (s *Subscriptions) RefundYearTx(ctx context.Context, tx pgx.Tx, r RefundYear) (YearRefunded, error) {
	at := s.now().UTC()
	sub, err := subscriptionWhere(ctx, tx, `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
ORDER BY id DESC LIMIT 1 FOR UPDATE`, r.AccountID, at)
	if err != nil {
		return YearRefunded{}, err
	}
	usage := func(ctx context.Context, ids []int64) (map[int64]ledger.LotUsage, error) {
		return s.ledger.LotUsageTx(ctx, tx, ids)
	}
	q, err := s.yearRefund(ctx, tx, sub, at, usage)
	if err != nil {
		return YearRefunded{}, err
	}
	if q.OrderNo != r.OrderNo {
		return YearRefunded{}, fmt.Errorf("%w: order %s did not pay the year in force", ErrNoYearRefund, r.OrderNo)
	}
	out := YearRefunded{YearRefund: q, RefundFen: min(q.RefundFen, r.MaxFen), Revoked: decimal.Zero}
	if out.RefundFen <= 0 {
		return YearRefunded{}, fmt.Errorf("%w: the rule leaves nothing to refund", ErrNoYearRefund)
	}
	// The lots not yet expired (an expired one is the expiry sweep's).
	rows, err := tx.Query(ctx, `SELECT lot_id FROM subscription_grants
WHERE subscription_id = $1 AND lot_id IS NOT NULL AND period_end > $2 ORDER BY period_start`, sub.ID, at)
	if err != nil {
		return YearRefunded{}, err
	}
	lots, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return YearRefunded{}, err
	}
	for _, lot := range lots {
		res, err := s.ledger.RevokeTx(ctx, tx, ledger.RevokeRequest{LotID: lot, Actor: r.Actor, Reason: ReasonPlanRefund,
			SourceRef: fmt.Sprintf("subscription:%d", sub.ID), IdempotencyKey: fmt.Sprintf("plan-refund:%d:%d", sub.ID, lot)})
		if err != nil {
			return YearRefunded{}, err
		}
		out.Revoked = out.Revoked.Add(res.Revoked)
		if res.OpID != 0 {
			out.OpID = res.OpID
		}
	}
	end := at
	if !end.After(sub.Anchor) {
		end = sub.Anchor.Add(time.Second)
	}
	rows, err = tx.Query(ctx, `
UPDATE subscriptions SET state = 'expired', term_end = $2, grace_until = NULL,
    next_plan_code = NULL, next_plan_version = NULL, next_cycle = NULL, updated_at = $3
WHERE id = $1 RETURNING `+subscriptionColumns, sub.ID, end, at)
	if err != nil {
		return YearRefunded{}, err
	}
	ended, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return YearRefunded{}, err
	}
	note := fmt.Sprintf("%s: %d fen; %d unused months, %s credits beyond the elapsed share", r.OrderNo, out.RefundFen,
		q.UnusedMonths, q.Excess.String())
	if r.Note != "" {
		note += "; " + r.Note
	}
	if rs := []rune(note); len(rs) > 500 {
		note = string(rs[:500])
	}
	if err := insertEvent(ctx, tx, ended.utc(), EventRefunded, r.Actor, note, at); err != nil {
		return YearRefunded{}, err
	}
	out.Subscription = ended.utc()
	return out, nil
}
