package plans

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// # Renewal and grace
//
// A subscription's next period is sold as renewalPlan says (the scheduled
// change, else the same plan at its latest version). LeadDays before the
// term ends, the plans job makes the renewal order for it (one per
// subscription and period start, subscription_renewals) with a
// renewal_ordered event, a reminder mail and a subscription.renewal_due
// webhook; the customer pays it through the checkout (payments, purpose
// plan_renewal). Paying moves the term on by one cycle from the old term
// end, in the payment's transaction (RenewPaidTx). A renewal that costs
// nothing is applied by the job at the term end. Unpaid at the term end,
// the subscription goes past_due with GraceDays of grace (still in force);
// paid within grace it renews from the old term end (no gap, no shift); at
// grace end it expires and the account falls to Free. A canceled
// subscription is never ordered nor renewed: it expires at its term end.
//
// The subscription's row lock serialises everything that moves its term,
// and a renewal applies only while the subscription's term end equals the
// period start it pays, so a period is applied once; the payment orders'
// unique index (payment_orders_renewal_paid_key) makes the second paid
// order for a period impossible as well (it goes to review).

// Errors of renewal.
var (
	// ErrRenewalNotDue: the account has no subscription to renew now
	// (none, canceled, expired, or its term ends after the lead days), or
	// the renewal costs nothing (the job applies it).
	ErrRenewalNotDue = errors.New("plans: no renewal due")
	// ErrPeriodRenewed: the period a renewal payment is for was renewed
	// already, or the subscription can no longer be renewed (expired,
	// canceled): the payment is not applied (payments sends it to review).
	ErrPeriodRenewed = errors.New("plans: period renewed already or not renewable")
)

// Renewal defaults and bounds (the settings screen keeps within them).
const (
	DefaultRenewalLeadDays = 7
	DefaultGraceDays       = 3
	MinRenewalLeadDays     = 1
	MaxRenewalLeadDays     = 60
	MinGraceDays           = 0
	MaxGraceDays           = 30
)

// RenewalTerms are the business settings of renewal: how many days before
// the term end the renewal order is made, and how many days of grace an
// unpaid term gets.
type RenewalTerms struct {
	LeadDays  int
	GraceDays int
}

// renewalTerms is the terms in force (Options.RenewalTerms, defaults for
// what is unset or out of bounds).
func (s *Subscriptions) renewalTerms() RenewalTerms {
	t := RenewalTerms{LeadDays: DefaultRenewalLeadDays, GraceDays: DefaultGraceDays}
	if s.terms != nil {
		c := s.terms()
		if c.LeadDays >= MinRenewalLeadDays && c.LeadDays <= MaxRenewalLeadDays {
			t.LeadDays = c.LeadDays
		}
		if c.GraceDays >= MinGraceDays && c.GraceDays <= MaxGraceDays {
			t.GraceDays = c.GraceDays
		}
	}
	return t
}

// Renewal is the renewal order of a subscription's next period: what it is
// sold as and for how much. RenewedAt is set once the period was applied.
type Renewal struct {
	SubscriptionID int64      `db:"subscription_id"`
	PeriodStart    time.Time  `db:"period_start"`
	PeriodEnd      time.Time  `db:"period_end"`
	PlanCode       string     `db:"plan_code"`
	PlanVersion    int        `db:"plan_version"`
	Cycle          Cycle      `db:"cycle"`
	PriceFen       int64      `db:"price_fen"`
	OrderedAt      time.Time  `db:"ordered_at"`
	RenewedAt      *time.Time `db:"renewed_at"`
	OrderNo        string     `db:"order_no"`
}

func (r Renewal) utc() Renewal {
	r.PeriodStart, r.PeriodEnd, r.OrderedAt = r.PeriodStart.UTC(), r.PeriodEnd.UTC(), r.OrderedAt.UTC()
	if r.RenewedAt != nil {
		t := r.RenewedAt.UTC()
		r.RenewedAt = &t
	}
	return r
}

const renewalColumns = `subscription_id, period_start, period_end, plan_code, plan_version, cycle, price_fen, ordered_at,
renewed_at, coalesce(order_no, '') AS order_no`

// NextPeriod is the period after the subscription's term for cycle: from
// TermEnd to the anniversary of the anchor one cycle later (anchored to the
// first day, so 31 Jan → 28/29 Feb → 31 Mar).
func (s Subscription) NextPeriod(cycle Cycle) Period {
	m := monthIndex(s.Anchor, s.TermEnd)
	end := anniversary(s.Anchor, m+cycle.months())
	for !end.After(s.TermEnd) { // a term end between anniversaries (never made by this package)
		m++
		end = anniversary(s.Anchor, m+cycle.months())
	}
	return Period{Start: s.TermEnd, End: end}
}

// monthIndex is the number of the monthly period of anchor containing t.
func monthIndex(anchor, t time.Time) int {
	n, _, _ := PeriodContaining(anchor, Monthly, t)
	return n
}

// priceFor is the plan's price for one cycle, in fen.
func priceFor(p Plan, c Cycle) int64 {
	if c == Yearly {
		return p.YearlyPriceFen
	}
	return p.MonthlyPriceFen
}

// ensureRenewalTx makes (or, while unpaid, brings up to date with
// renewalPlan) the renewal order of the subscription's next period, inside
// tx with the subscription locked. due reports an order that now costs
// something and did not before (new, or free until a change): the customer
// is to be told.
func (s *Subscriptions) ensureRenewalTx(ctx context.Context, tx pgx.Tx, sub Subscription, now time.Time) (r Renewal, due bool, err error) {
	p, cycle, err := renewalPlan(ctx, tx, sub)
	if err != nil {
		return Renewal{}, false, err
	}
	per := sub.NextPeriod(cycle)
	var before int64
	err = tx.QueryRow(ctx, `SELECT price_fen FROM subscription_renewals WHERE subscription_id = $1 AND period_start = $2`,
		sub.ID, per.Start).Scan(&before)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Renewal{}, false, err
	}
	rows, err := tx.Query(ctx, `
INSERT INTO subscription_renewals AS r (subscription_id, period_start, period_end, plan_code, plan_version, cycle, price_fen, ordered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (subscription_id, period_start) DO UPDATE SET period_end = EXCLUDED.period_end, plan_code = EXCLUDED.plan_code,
    plan_version = EXCLUDED.plan_version, cycle = EXCLUDED.cycle, price_fen = EXCLUDED.price_fen
WHERE r.renewed_at IS NULL
RETURNING `+renewalColumns,
		sub.ID, per.Start, per.End, p.Code, p.Version, cycle, priceFor(p, cycle), now)
	if err != nil {
		return Renewal{}, false, err
	}
	got, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Renewal])
	if errors.Is(err, pgx.ErrNoRows) { // renewed already (the term end would have moved): report it
		return Renewal{}, false, ErrPeriodRenewed
	}
	return got.utc(), err == nil && got.PriceFen > 0 && before == 0, err
}

func renewalWhere(ctx context.Context, q db.DBTX, where string, args ...any) (Renewal, error) {
	rows, err := q.Query(ctx, `SELECT `+renewalColumns+` FROM subscription_renewals WHERE `+where, args...)
	if err != nil {
		return Renewal{}, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Renewal])
	if errors.Is(err, pgx.ErrNoRows) {
		return Renewal{}, ErrNotFound
	}
	return r.utc(), err
}

// Renewals returns a subscription's renewal orders, oldest first.
//
// Errors: database errors wrapped with "plans: renewals:".
func (s *Subscriptions) Renewals(ctx context.Context, subscriptionID int64) ([]Renewal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+renewalColumns+` FROM subscription_renewals WHERE subscription_id = $1
ORDER BY period_start`, subscriptionID)
	if err != nil {
		return nil, wrap("renewals", err)
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Renewal])
	for i := range rs {
		rs[i] = rs[i].utc()
	}
	return rs, wrap("renewals", err)
}

// orderRenewalTx makes the renewal order of a locked subscription due for
// one and, when it newly costs something, records renewal_ordered and
// sends the reminder (mail, webhook) in tx.
func (s *Subscriptions) orderRenewalTx(ctx context.Context, tx pgx.Tx, sub Subscription, now time.Time) (Renewal, bool, error) {
	r, due, err := s.ensureRenewalTx(ctx, tx, sub, now)
	if err != nil || !due {
		return r, false, err
	}
	if err := insertEvent(ctx, tx, sub, EventRenewalOrdered, "plans", fmt.Sprintf("%s:%d:%s", r.PlanCode, r.PlanVersion, r.Cycle), now); err != nil {
		return r, false, err
	}
	return r, true, s.notify(ctx, tx, Notice{Kind: EventRenewalOrdered, Subscription: sub, Renewal: &r})
}

// RenewalOffer is the renewal the account can pay now: its subscription's
// renewal order for the next period (made now if the job has not yet),
// within the lead days before the term end or during grace.
//
// Errors: ErrRenewalNotDue; database errors wrapped with "plans: renewal
// offer:".
func (s *Subscriptions) RenewalOffer(ctx context.Context, accountID int64) (Renewal, error) {
	now := s.now().UTC()
	var r Renewal
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sub, err := subscriptionWhere(ctx, tx, `account_id = $1 AND state <> 'expired' FOR UPDATE`, accountID)
		if errors.Is(err, ErrNotFound) {
			return ErrRenewalNotDue
		}
		if err != nil {
			return err
		}
		if !s.renewable(sub, now) {
			return ErrRenewalNotDue
		}
		if r, _, err = s.orderRenewalTx(ctx, tx, sub, now); err != nil {
			return err
		}
		if r.PriceFen == 0 {
			return ErrRenewalNotDue
		}
		return nil
	})
	return r, wrap("renewal offer", err)
}

// renewable reports whether the subscription's next period can be ordered
// or paid at now: active within the lead days of its term end, or past due
// within grace.
func (s *Subscriptions) renewable(sub Subscription, now time.Time) bool {
	switch sub.State {
	case Active:
		return !sub.TermEnd.After(now.AddDate(0, 0, s.renewalTerms().LeadDays))
	case PastDue:
		return sub.InForce(now)
	}
	return false
}

// DueRenewal returns the subscription's unpaid renewal order for its next
// period, if one was made and costs something (a free one is applied by
// the job at the term end).
//
// Errors: ErrNotFound; database errors wrapped with "plans: due renewal:".
func (s *Subscriptions) DueRenewal(ctx context.Context, sub Subscription) (Renewal, error) {
	r, err := renewalWhere(ctx, s.reader.Latest(ctx, s.pool), `subscription_id = $1 AND period_start = $2 AND renewed_at IS NULL AND price_fen > 0`, sub.ID, sub.TermEnd)
	return r, wrap("due renewal", err)
}

// RenewPaid is a paid renewal order: the period it pays and what it was
// sold as (the payment order's plan, version and cycle).
type RenewPaid struct {
	SubscriptionID int64
	PeriodStart    time.Time
	PlanCode       string
	PlanVersion    int
	Cycle          Cycle
	OrderNo        string
	Actor          string
}

// RenewPaidTx applies a paid renewal inside the caller's transaction tx
// (payments calls it in the transaction that marks the order paid): the
// subscription moves on to the next period as RenewPaid describes it.
//
// A renewal order paid for a plan or cycle other than the one its period
// is now sold as (a plan change repriced it after the order was made) is
// superseded: it is refused like a period renewed already.
//
// Errors: ErrPeriodRenewed (the period was renewed already, the
// subscription expired or was canceled, or the order was superseded);
// ErrNotFound; database errors.
func (s *Subscriptions) RenewPaidTx(ctx context.Context, tx pgx.Tx, r RenewPaid) (Subscription, error) {
	now := s.now().UTC()
	sub, err := subscriptionWhere(ctx, tx, `id = $1 FOR UPDATE`, r.SubscriptionID)
	if err != nil {
		return Subscription{}, err
	}
	ren, err := renewalWhere(ctx, tx, `subscription_id = $1 AND period_start = $2 FOR UPDATE`, r.SubscriptionID, r.PeriodStart)
	if err != nil {
		return Subscription{}, err
	}
	if ren.RenewedAt != nil || !sub.TermEnd.Equal(r.PeriodStart) || !(sub.State == Active || (sub.State == PastDue && sub.InForce(now))) {
		return Subscription{}, ErrPeriodRenewed
	}
	if ren.PlanCode != r.PlanCode || ren.Cycle != r.Cycle { // a plan change repriced the renewal since the order was made
		return Subscription{}, ErrPeriodRenewed
	}
	ren.PlanCode, ren.PlanVersion, ren.Cycle = r.PlanCode, r.PlanVersion, r.Cycle
	ren.PeriodEnd = sub.NextPeriod(r.Cycle).End
	return s.applyRenewalTx(ctx, tx, sub, ren, r.OrderNo, r.Actor, now)
}

// applyRenewalTx moves a locked subscription on to the renewal's period:
// term end, plan, version and cycle are the renewal's, the scheduled change
// is cleared, a past-due subscription is active again; it writes downgraded
// (when a scheduled change applied) and renewed, marks the renewal order
// renewed, grants the month now is in when it has begun, and notifies.
func (s *Subscriptions) applyRenewalTx(ctx context.Context, tx pgx.Tx, sub Subscription, ren Renewal, orderNo, actor string,
	now time.Time) (Subscription, error) {
	var order *string
	if orderNo != "" {
		order = &orderNo
	}
	tag, err := tx.Exec(ctx, `
UPDATE subscription_renewals SET renewed_at = $3, order_no = $4, plan_code = $5, plan_version = $6, cycle = $7, period_end = $8
WHERE subscription_id = $1 AND period_start = $2 AND renewed_at IS NULL`,
		sub.ID, ren.PeriodStart, now, order, ren.PlanCode, ren.PlanVersion, ren.Cycle, ren.PeriodEnd)
	if err != nil {
		return Subscription{}, err
	}
	if tag.RowsAffected() != 1 {
		return Subscription{}, ErrPeriodRenewed
	}
	if sub.NextPlanCode != "" && ren.PeriodStart.After(now) {
		// A scheduled change paid before its period: the plan in force
		// stays to the old term end; the change waits as next_* for that
		// instant (switchDueTx, run by the grant of the new period).
		next, err := extendForChange(ctx, tx, sub.ID, ren, now)
		if err != nil {
			return Subscription{}, err
		}
		if err := insertEvent(ctx, tx, next, EventRenewed, actor, orderNo, now); err != nil {
			return Subscription{}, err
		}
		return next, s.notify(ctx, tx, Notice{Kind: EventRenewed, Subscription: next, Renewal: &ren})
	}
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET plan_code = $2, plan_version = $3, cycle = $4, term_end = $5, state = 'active', grace_until = NULL,
    next_plan_code = NULL, next_plan_version = NULL, next_cycle = NULL, updated_at = $6
WHERE id = $1
RETURNING `+subscriptionColumns, sub.ID, ren.PlanCode, ren.PlanVersion, ren.Cycle, ren.PeriodEnd, now)
	if err != nil {
		return Subscription{}, err
	}
	next, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return Subscription{}, err
	}
	next = next.utc()
	if sub.NextPlanCode != "" {
		if err := insertEvent(ctx, tx, next, EventDowngraded, actor, fmt.Sprintf("from %s:%d:%s", sub.PlanCode, sub.PlanVersion, sub.Cycle), now); err != nil {
			return Subscription{}, err
		}
	}
	if err := insertEvent(ctx, tx, next, EventRenewed, actor, orderNo, now); err != nil {
		return Subscription{}, err
	}
	if !ren.PeriodStart.After(now) { // paid in grace, or a free renewal at the term end: this month's credits now
		if _, _, err := s.grantTx(ctx, tx, next.ID, now); err != nil {
			return Subscription{}, err
		}
	}
	return next, s.notify(ctx, tx, Notice{Kind: EventRenewed, Subscription: next, Renewal: &ren})
}

// RenewReport counts what one RenewDue run did.
type RenewReport struct {
	Ordered int // renewal orders made (reminders sent)
	Renewed int // free renewals applied
	PastDue int // terms ended unpaid, now in grace
	Expired int // canceled terms ended, graces ended
}

// RenewDue runs the period boundary at at: it applies free renewals of
// terms that ended, puts unpaid ones past due with their grace, expires
// canceled terms and ended graces, and makes the renewal orders of terms
// ending within the lead days. Each subscription is one transaction.
//
// Errors: the first error of a subscription (the others still run), wrapped
// with "plans: renew due:".
func (s *Subscriptions) RenewDue(ctx context.Context, at time.Time) (RenewReport, error) {
	at = at.UTC()
	var rep RenewReport
	rows, err := s.pool.Query(ctx, `
SELECT id FROM subscriptions
WHERE (state IN ('active', 'canceled') AND term_end <= $1) OR (state = 'past_due' AND grace_until <= $1)
ORDER BY id`, at)
	if err != nil {
		return rep, wrap("renew due", err)
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return rep, wrap("renew due", err)
	}
	var first error
	for _, id := range ended {
		err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error { return s.boundaryTx(ctx, tx, id, at, &rep) })
		if err != nil && first == nil {
			first = err
		}
	}
	rows, err = s.pool.Query(ctx, `
SELECT s.id FROM subscriptions s
WHERE s.state = 'active' AND s.term_end > $1 AND s.term_end <= $2
  AND NOT EXISTS (SELECT 1 FROM subscription_renewals r
                  WHERE r.subscription_id = s.id AND r.period_start = s.term_end AND r.price_fen > 0)
ORDER BY s.id`, at, at.AddDate(0, 0, s.renewalTerms().LeadDays))
	if err != nil {
		return rep, wrap("renew due", err)
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return rep, wrap("renew due", err)
	}
	for _, id := range due {
		err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			sub, err := subscriptionWhere(ctx, tx, `id = $1 FOR UPDATE`, id)
			if err != nil || sub.State != Active || !sub.TermEnd.After(at) || !s.renewable(sub, at) {
				return err
			}
			_, ordered, err := s.orderRenewalTx(ctx, tx, sub, at)
			if ordered {
				rep.Ordered++
			}
			return err
		})
		if err != nil && first == nil {
			first = err
		}
	}
	return rep, wrap("renew due", first)
}

// boundaryTx settles one subscription whose term (or grace) ended by at,
// with its row locked: free renewals apply (as many periods as ended),
// unpaid terms go past due, canceled terms and ended graces expire.
func (s *Subscriptions) boundaryTx(ctx context.Context, tx pgx.Tx, id int64, at time.Time, rep *RenewReport) error {
	sub, err := subscriptionWhere(ctx, tx, `id = $1 FOR UPDATE`, id)
	if err != nil {
		return err
	}
	for range 120 { // a free plan renews every period the job missed
		if sub.State != Active || sub.TermEnd.After(at) {
			break
		}
		r, _, err := s.orderRenewalTx(ctx, tx, sub, at)
		if err != nil {
			return err
		}
		if r.PriceFen > 0 {
			grace := sub.TermEnd.AddDate(0, 0, s.renewalTerms().GraceDays)
			if sub, err = setState(ctx, tx, sub.ID, PastDue, &grace, at); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, sub, EventPastDue, "plans", "", at); err != nil {
				return err
			}
			if err := s.notify(ctx, tx, Notice{Kind: EventPastDue, Subscription: sub, Renewal: &r}); err != nil {
				return err
			}
			rep.PastDue++
			break
		}
		if sub, err = s.applyRenewalTx(ctx, tx, sub, r, "", "plans", at); err != nil {
			return err
		}
		rep.Renewed++
	}
	ended := (sub.State == Canceled && !sub.TermEnd.After(at)) || (sub.State == PastDue && sub.GraceUntil != nil && !sub.GraceUntil.After(at))
	if !ended {
		return nil
	}
	if sub, err = setState(ctx, tx, sub.ID, Expired, sub.GraceUntil, at); err != nil {
		return err
	}
	if err := insertEvent(ctx, tx, sub, EventExpired, "plans", "", at); err != nil {
		return err
	}
	rep.Expired++
	return s.notify(ctx, tx, Notice{Kind: EventExpired, Subscription: sub})
}

// setState sets a subscription's state and grace.
func setState(ctx context.Context, tx pgx.Tx, id int64, st State, grace *time.Time, at time.Time) (Subscription, error) {
	rows, err := tx.Query(ctx, `UPDATE subscriptions SET state = $2, grace_until = $3, updated_at = $4 WHERE id = $1
RETURNING `+subscriptionColumns, id, st, grace, at)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	return sub.utc(), err
}

// PayableRenewal is a renewal order that can be paid now, with the account
// of its subscription (paid by agreement: internal/autotopup).
type PayableRenewal struct {
	AccountID int64 `db:"account_id"`
	Renewal
}

// PayableRenewals lists, oldest period first, up to limit unpaid renewal
// orders that cost something, whose period starts by `by`, of
// subscriptions that renew: active (auto-renew on: not canceled) or past
// due within grace. Auto top-up pays them through the account's agreement
// on the renewal date.
//
// Errors: database errors wrapped with "plans: payable renewals:".
func (s *Subscriptions) PayableRenewals(ctx context.Context, by time.Time, limit int) ([]PayableRenewal, error) {
	now := s.now().UTC()
	rows, err := s.pool.Query(ctx, `
SELECT s.account_id, `+renewalColumnsR+`
FROM subscription_renewals r JOIN subscriptions s ON s.id = r.subscription_id
WHERE r.renewed_at IS NULL AND r.price_fen > 0 AND r.period_start = s.term_end AND r.period_start <= $1
  AND (s.state = 'active' OR (s.state = 'past_due' AND s.grace_until > $2))
ORDER BY r.period_start, r.subscription_id LIMIT $3`, by.UTC(), now, limit)
	if err != nil {
		return nil, wrap("payable renewals", err)
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[PayableRenewal])
	for i := range rs {
		rs[i].Renewal = rs[i].Renewal.utc()
	}
	return rs, wrap("payable renewals", err)
}

// RenewalPayable reports whether the renewal of subscriptionID's period
// starting at periodStart can still be paid (not renewed, the subscription
// active or in grace, its term end still that period's start): checked
// before an agreement debit, so a renewal the customer paid by hand
// meanwhile is not debited again.
//
// Errors: database errors wrapped with "plans: renewal payable:".
func (s *Subscriptions) RenewalPayable(ctx context.Context, subscriptionID int64, periodStart time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM subscription_renewals r JOIN subscriptions s ON s.id = r.subscription_id
WHERE r.subscription_id = $1 AND r.period_start = $2 AND r.renewed_at IS NULL AND s.term_end = r.period_start
  AND (s.state = 'active' OR (s.state = 'past_due' AND s.grace_until > $3)))`, subscriptionID, periodStart.UTC(), s.now().UTC()).Scan(&ok)
	return ok, wrap("renewal payable", err)
}

// renewalColumnsR is renewalColumns qualified by the alias r.
const renewalColumnsR = `r.subscription_id, r.period_start, r.period_end, r.plan_code, r.plan_version, r.cycle, r.price_fen,
r.ordered_at, r.renewed_at, coalesce(r.order_no, '') AS order_no`
