package plans

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Errors of subscriptions.
var (
	// ErrAlreadySubscribed: the account has a subscription in force.
	ErrAlreadySubscribed = errors.New("plans: account already has a plan")
	// ErrInvalidTerm: a comp's months are outside 1…MaxCompMonths.
	ErrInvalidTerm = errors.New("plans: invalid term")
)

// MaxCompMonths is the longest term staff can comp at once.
const MaxCompMonths = 36

// State is where a subscription is in its life.
type State string

// The subscription states.
const (
	// Active: in force, renews at its term's end (once renewal exists).
	Active State = "active"
	// Canceled: renewal turned off; in force until its term's end.
	Canceled State = "canceled"
	// PastDue: the term ended unpaid; in force until GraceUntil, then
	// the account falls to Free.
	PastDue State = "past_due"
	// Expired: over; the account has no plan from it.
	Expired State = "expired"
)

// EventKind is what a subscription event records.
type EventKind string

// The subscription event kinds.
const (
	EventCreated            EventKind = "created"
	EventComped             EventKind = "comped"
	EventGranted            EventKind = "granted" // staff granted a contract term (enterprise)
	EventRenewed            EventKind = "renewed"
	EventRenewalOrdered     EventKind = "renewal_ordered"
	EventPastDue            EventKind = "past_due"
	EventCanceled           EventKind = "canceled"
	EventResumed            EventKind = "resumed"
	EventUpgraded           EventKind = "upgraded"
	EventDowngradeScheduled EventKind = "downgrade_scheduled"
	EventChangeWithdrawn    EventKind = "change_withdrawn"
	EventDowngraded         EventKind = "downgraded"
	EventExtended           EventKind = "extended"
	EventRefunded           EventKind = "refunded"
	EventUpgradeRefunded    EventKind = "upgrade_refunded" // a paid upgrade refunded: back on the plan it came from
	EventExpired            EventKind = "expired"
)

// Subscription is an account's plan: the version it bought, its cycle and
// its periods (PeriodAt over Anchor), in force until TermEnd.
type Subscription struct {
	ID          int64     `db:"id"`
	AccountID   int64     `db:"account_id"`
	PlanCode    string    `db:"plan_code"`
	PlanVersion int       `db:"plan_version"`
	Cycle       Cycle     `db:"cycle"`
	Anchor      time.Time `db:"anchor"`
	// StartedAt is when the subscription began: the anchor it was made
	// with; an extension moves the anchor (and every period) but not it.
	StartedAt time.Time `db:"started_at"`
	// ExtendedStart/ExtendedEnd is a billing period staff extended (nil:
	// none): Period answers it while it lasts.
	ExtendedStart *time.Time `db:"extended_start"`
	ExtendedEnd   *time.Time `db:"extended_end"`
	TermEnd       time.Time  `db:"term_end"`
	State         State      `db:"state"`
	// NextPlanCode/NextPlanVersion/NextCycle: a change scheduled for the
	// current period's end (a downgrade); empty when none.
	NextPlanCode    string `db:"next_plan_code"`
	NextPlanVersion int    `db:"next_plan_version"`
	NextCycle       Cycle  `db:"next_cycle"`
	// GraceUntil is set while PastDue: the plan stays until then.
	GraceUntil *time.Time `db:"grace_until"`
	CreatedAt  time.Time  `db:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at"`
}

// Period returns the billing period containing at: periods of the
// current cycle counted back from TermEnd (the same as PeriodContaining
// over Anchor, unless a renewal changed the cycle), each bound an
// anniversary of the anchor.
func (s Subscription) Period(at time.Time) Period {
	if s.ExtendedStart != nil && s.ExtendedEnd != nil && !at.Before(*s.ExtendedStart) && at.Before(*s.ExtendedEnd) {
		return Period{Start: *s.ExtendedStart, End: *s.ExtendedEnd} // a period staff extended
	}
	m, k := monthIndex(s.Anchor, s.TermEnd), s.Cycle.months()
	j := floorDiv(m-1-monthIndex(s.Anchor, at), k)
	return Period{Start: anniversary(s.Anchor, m-(j+1)*k), End: anniversary(s.Anchor, m-j*k)}
}

// GrantPeriod returns the month plan credits are granted for at at: the
// billing period of a monthly plan, the month of a yearly one (the monthly
// periods of the same anchor), cut at TermEnd.
func (s Subscription) GrantPeriod(at time.Time) Period {
	_, start, end := PeriodContaining(s.Anchor, Monthly, at)
	if end.After(s.TermEnd) {
		end = s.TermEnd
	}
	return Period{Start: start, End: end}
}

// InForce reports whether the subscription gives its plan at at.
// A past-due subscription stays in force through its grace.
func (s Subscription) InForce(at time.Time) bool {
	if s.State == PastDue && s.GraceUntil != nil {
		return !at.Before(s.StartedAt) && at.Before(*s.GraceUntil)
	}
	return s.State != Expired && !at.Before(s.StartedAt) && at.Before(s.TermEnd)
}

// Event is one change of a subscription.
type Event struct {
	ID             int64     `db:"id"`
	SubscriptionID int64     `db:"subscription_id"`
	Kind           EventKind `db:"kind"`
	PlanCode       string    `db:"plan_code"`
	PlanVersion    int       `db:"plan_version"`
	TermEnd        time.Time `db:"term_end"`
	Actor          string    `db:"actor"`
	Note           string    `db:"note"`
	At             time.Time `db:"at"`
}

// Grant is the plan credits of one month of a subscription.
type Grant struct {
	SubscriptionID int64           `db:"subscription_id"`
	PeriodStart    time.Time       `db:"period_start"`
	PeriodEnd      time.Time       `db:"period_end"`
	PlanCode       string          `db:"plan_code"`
	PlanVersion    int             `db:"plan_version"`
	Credits        decimal.Decimal `db:"credits"`
	// LotID is the ledger plan lot (0 when the plan grants no credits).
	LotID     int64     `db:"lot_id"`
	GrantedAt time.Time `db:"granted_at"`
}

// GrantKey is the ledger idempotency key of a subscription's grant for the
// month starting at start: one plan lot per (subscription, month), however
// often and from however many processes the grant runs.
func GrantKey(subscriptionID int64, start time.Time) string {
	return fmt.Sprintf("plan:%d:%d", subscriptionID, start.Unix())
}

// Subscriptions subscribes accounts to plans and grants their plan credits.
type Subscriptions struct {
	pool       db.Querier
	ledger     *ledger.Ledger
	now        func() time.Time
	terms      func() RenewalTerms
	notifyHook func(ctx context.Context, tx pgx.Tx, n Notice) error
	creditRMB  decimal.Decimal
	reader     *db.Reader
}

// NewSubscriptions returns the subscriptions on pool, granting plan credits
// through l.
func NewSubscriptions(pool db.Querier, l *ledger.Ledger, o Options) *Subscriptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Subscriptions{pool: pool, ledger: l, now: o.Now, terms: o.RenewalTerms, notifyHook: o.Notify, creditRMB: o.CreditPriceRMB,
		reader: o.Reader}
}

// CompRequest is staff granting a plan to an account for Months months free.
type CompRequest struct {
	AccountID int64
	PlanCode  string
	Months    int
	Actor     string
	Note      string
}

// Comp gives the account the latest version of a plan for Months monthly
// periods from now, without payment and without renewal (state canceled:
// it ends with its term), and grants the first month's credits in the same
// transaction. It returns the subscription and that grant.
//
// Errors: as CompTx, wrapped with "plans: comp:".
func (s *Subscriptions) Comp(ctx context.Context, r CompRequest) (Subscription, Grant, error) {
	var sub Subscription
	var g Grant
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		sub, g, err = s.CompTx(ctx, tx, r)
		return err
	})
	return sub, g, wrap("comp", err)
}

// CompTx is Comp inside the caller's transaction tx, so the back office
// writes its audit row atomically with the subscription. It locks the
// account's pool row (the ledger's credit) until tx ends.
//
// Errors: ErrInvalidTerm; *ValidationError (CodeNoActor); ErrNotFound when
// the plan has no version; ErrAlreadySubscribed; ledger errors of the
// grant (ledger.ErrNotFound for an unknown account); database errors.
func (s *Subscriptions) CompTx(ctx context.Context, tx pgx.Tx, r CompRequest) (Subscription, Grant, error) {
	if r.Months < 1 || r.Months > MaxCompMonths {
		return Subscription{}, Grant{}, ErrInvalidTerm
	}
	if r.Actor == "" {
		return Subscription{}, Grant{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	p, err := latest(ctx, tx, r.PlanCode)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	_, end := PeriodAt(now, Monthly, r.Months-1)
	sub, err := insertSubscription(ctx, tx, Subscription{AccountID: r.AccountID, PlanCode: p.Code,
		PlanVersion: p.Version, Cycle: Monthly, Anchor: now, TermEnd: end, State: Canceled}, now)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	if err := insertEvent(ctx, tx, sub, EventComped, r.Actor, r.Note, now); err != nil {
		return Subscription{}, Grant{}, err
	}
	g, _, err := s.grantTx(ctx, tx, sub.ID, now)
	return sub, g, err
}

// SubscribeRequest starts a subscription (what a paid checkout will call).
type SubscribeRequest struct {
	AccountID int64
	PlanCode  string
	Cycle     Cycle
	// Anchor is the first period's start (now when zero).
	Anchor time.Time
	Actor  string
	// PlanVersion is the version bought (the latest when 0): a paid order
	// keeps the version its price was read from.
	PlanVersion int
	// Note is kept on the created event (e.g. the order number).
	Note string
}

// Subscribe starts an active subscription to the latest version of a plan
// for one period of the cycle and, when it has begun, grants the current
// month's credits in the same transaction (a later start is granted by
// GrantDue once it begins, so no credit is spendable early).
//
// Errors: ErrNotFound when the plan has no version; ErrAlreadySubscribed;
// ledger errors of the grant; database errors wrapped with
// "plans: subscribe:".
func (s *Subscriptions) Subscribe(ctx context.Context, r SubscribeRequest) (Subscription, Grant, error) {
	if r.Cycle != Monthly && r.Cycle != Yearly {
		return Subscription{}, Grant{}, wrap("subscribe", fmt.Errorf("%w: cycle %q", ErrInvalidTerm, r.Cycle))
	}
	if r.Actor == "" {
		return Subscription{}, Grant{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	anchor := r.Anchor.UTC()
	if r.Anchor.IsZero() {
		anchor = now
	}
	var sub Subscription
	var g Grant
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		sub, g, err = s.subscribeTx(ctx, tx, r, anchor, now)
		return err
	})
	return sub, g, wrap("subscribe", err)
}

// SubscribeTx is Subscribe inside the caller's transaction tx, starting now:
// payments calls it in the transaction that marks a plan order paid, so the
// order and the subscription commit together. A subscription whose term
// ended but which the grant job has not expired yet is expired first.
//
// Errors: as Subscribe, ErrNotFound also for an unknown PlanVersion.
func (s *Subscriptions) SubscribeTx(ctx context.Context, tx pgx.Tx, r SubscribeRequest) (Subscription, Grant, error) {
	if r.Cycle != Monthly && r.Cycle != Yearly {
		return Subscription{}, Grant{}, fmt.Errorf("%w: cycle %q", ErrInvalidTerm, r.Cycle)
	}
	if r.Actor == "" {
		return Subscription{}, Grant{}, &ValidationError{Code: CodeNoActor}
	}
	now := s.now().UTC()
	if err := expireAccountTx(ctx, tx, r.AccountID, now); err != nil {
		return Subscription{}, Grant{}, err
	}
	return s.subscribeTx(ctx, tx, r, now, now)
}

func (s *Subscriptions) subscribeTx(ctx context.Context, tx pgx.Tx, r SubscribeRequest, anchor, now time.Time) (Subscription, Grant, error) {
	var p Plan
	var err error
	if r.PlanVersion > 0 {
		var ps []Plan
		ps, err = loadPlans(ctx, tx, `WHERE code = $1 AND version = $2`, r.PlanCode, r.PlanVersion)
		if err == nil && len(ps) == 0 {
			err = ErrNotFound
		}
		if err == nil {
			p = ps[0]
		}
	} else {
		p, err = latest(ctx, tx, r.PlanCode)
	}
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	_, end := PeriodAt(anchor, r.Cycle, 0)
	sub, err := insertSubscription(ctx, tx, Subscription{AccountID: r.AccountID, PlanCode: p.Code,
		PlanVersion: p.Version, Cycle: r.Cycle, Anchor: anchor, TermEnd: end, State: Active}, now)
	if err != nil {
		return Subscription{}, Grant{}, err
	}
	if err := insertEvent(ctx, tx, sub, EventCreated, r.Actor, r.Note, now); err != nil {
		return Subscription{}, Grant{}, err
	}
	if anchor.After(now) {
		return sub, Grant{}, nil // a later start: the grant job grants it when it begins
	}
	g, _, err := s.grantTx(ctx, tx, sub.ID, now)
	return sub, g, err
}

// Offer is plan code as an account may buy it now for cycle: the latest
// version and its price in fen for that cycle.
//
// Errors: ErrAlreadySubscribed when the account has a plan in force (or
// one starting later); ErrNotFound for an unknown plan; ErrInvalidTerm for
// another cycle; database errors wrapped with "plans: offer:".
func (s *Subscriptions) Offer(ctx context.Context, accountID int64, code string, cycle Cycle) (Plan, int64, error) {
	if cycle != Monthly && cycle != Yearly {
		return Plan{}, 0, wrap("offer", fmt.Errorf("%w: cycle %q", ErrInvalidTerm, cycle))
	}
	_, err := subscriptionWhere(ctx, s.pool, `account_id = $1 AND state <> 'expired' AND `+inForceSQL+` LIMIT 1`,
		accountID, s.now().UTC())
	switch {
	case err == nil:
		return Plan{}, 0, wrap("offer", ErrAlreadySubscribed)
	case !errors.Is(err, ErrNotFound):
		return Plan{}, 0, wrap("offer", err)
	}
	p, err := latest(ctx, s.pool, code)
	if err != nil {
		return Plan{}, 0, wrap("offer", err)
	}
	if cycle == Yearly {
		return p, p.YearlyPriceFen, nil
	}
	return p, p.MonthlyPriceFen, nil
}

// expireAccountTx marks expired the account's subscriptions whose term
// ended by at, each with its expired event.
func expireAccountTx(ctx context.Context, tx pgx.Tx, accountID int64, at time.Time) error {
	rows, err := tx.Query(ctx, `
UPDATE subscriptions SET state = 'expired', updated_at = $2
WHERE account_id = $1 AND state <> 'expired' AND NOT `+inForceSQL+`
RETURNING `+subscriptionColumns, accountID, at)
	if err != nil {
		return err
	}
	subs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Subscription])
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if err := insertEvent(ctx, tx, sub, EventExpired, "plans", "", at); err != nil {
			return err
		}
	}
	return nil
}

// GrantDue runs the period boundary (RenewDue: renewals, grace, expiry)
// and grants the plan credits of the month containing at to every
// subscription in force without them. Months a subscription missed entirely (the job did not run
// for a whole month) are not granted afterwards: their lot would have
// expired already. It returns how many grants it made.
//
// Errors: the first error of a subscription (the others still run), wrapped
// with "plans: grant due:".
func (s *Subscriptions) GrantDue(ctx context.Context, at time.Time) (int, error) {
	at = at.UTC()
	_, renewErr := s.RenewDue(ctx, at)
	rows, err := s.pool.Query(ctx, `
SELECT s.id FROM subscriptions s
WHERE s.state <> 'expired' AND s.started_at <= $1 AND s.term_end > $1
  AND NOT EXISTS (SELECT 1 FROM subscription_grants g WHERE g.subscription_id = s.id AND g.period_end > $1)
ORDER BY s.id`, at)
	if err != nil {
		return 0, wrap("grant due", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, wrap("grant due", err)
	}
	n := 0
	var first error
	for _, id := range ids {
		var made bool
		err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			_, made, err = s.grantTx(ctx, tx, id, at)
			return err
		})
		if err != nil && first == nil {
			first = err
		}
		if made {
			n++
		}
	}
	if first == nil {
		first = renewErr
	}
	return n, wrap("grant due", first)
}

// grantTx grants, inside tx, the plan credits of subscription id for the
// month containing at, exactly once: the subscription's row lock serialises
// grants of one subscription, the grants key records the month, and the
// ledger's idempotency key (GrantKey) makes the lot itself unique. A month
// granted already returns its grant. A subscription not in force at at
// returns a zero Grant. made reports a new grant.
func (s *Subscriptions) grantTx(ctx context.Context, tx pgx.Tx, id int64, at time.Time) (g Grant, made bool, err error) {
	sub, err := subscriptionWhere(ctx, tx, `id = $1 FOR UPDATE`, id)
	if err != nil || !sub.InForce(at) {
		return Grant{}, false, err
	}
	if sub, err = switchDueTx(ctx, tx, sub, at); err != nil { // a paid change whose period has begun
		return Grant{}, false, err
	}
	per := sub.GrantPeriod(at)
	if g, err := grantWhere(ctx, tx, `subscription_id = $1 AND period_start = $2`, id, per.Start); !errors.Is(err, ErrNotFound) {
		return g, false, err
	}
	ps, err := loadPlans(ctx, tx, `WHERE code = $1 AND version = $2`, sub.PlanCode, sub.PlanVersion)
	if err != nil {
		return Grant{}, false, err
	}
	if len(ps) == 0 {
		return Grant{}, false, ErrNotFound
	}
	p := ps[0]
	g = Grant{SubscriptionID: id, PeriodStart: per.Start, PeriodEnd: per.End, PlanCode: p.Code,
		PlanVersion: p.Version, Credits: p.MonthlyCredits, GrantedAt: s.now().UTC()}
	if p.MonthlyCredits.IsPositive() {
		exp := per.End
		res, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{AccountID: sub.AccountID, Kind: ledger.LotPlan,
			Amount: p.MonthlyCredits, ExpiresAt: &exp, EventType: ledger.EventGrant,
			SourceRef: fmt.Sprintf("subscription:%d", id), Actor: "plans", ReasonCode: "plan_credits",
			IdempotencyKey: GrantKey(id, per.Start)})
		if err != nil {
			return Grant{}, false, err
		}
		g.LotID = res.Lot.ID
	}
	var lot *int64
	if g.LotID != 0 {
		lot = &g.LotID
	}
	_, err = tx.Exec(ctx, `
INSERT INTO subscription_grants (subscription_id, period_start, period_end, plan_code, plan_version, credits, lot_id, granted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		g.SubscriptionID, g.PeriodStart, g.PeriodEnd, g.PlanCode, g.PlanVersion, g.Credits, lot, g.GrantedAt)
	return g, err == nil, err
}

// Current is an account's subscription in force now, the period now is in
// and the grant of the month now is in (zero before it is granted).
type Current struct {
	Subscription
	Period Period
	Grant  Grant
	// Renewal is the unpaid renewal order of the next period, once made
	// (nil before, and after it was renewed).
	Renewal *Renewal
	// NextPaid: the next period was paid before it began; the plan cannot
	// change until then (ErrNextPeriodPaid).
	NextPaid bool
}

// inForceSQL is Subscription.InForce's end test in SQL, at $2: before the
// term end, or past due within grace.
const inForceSQL = `(term_end > $2 OR (state = 'past_due' AND grace_until > $2))`

// Current returns the account's subscription in force now.
//
// Errors: ErrNotFound when the account has no subscription in force;
// database errors wrapped with "plans: current:".
func (s *Subscriptions) Current(ctx context.Context, accountID int64) (Current, error) {
	at := s.now().UTC()
	sub, err := subscriptionWhere(ctx, s.reader.Latest(ctx, s.pool), `account_id = $1 AND state <> 'expired' AND started_at <= $2 AND `+inForceSQL+`
ORDER BY id DESC LIMIT 1`, accountID, at)
	if err != nil {
		return Current{}, wrap("current", err)
	}
	cur := Current{Subscription: sub, Period: sub.Period(at)}
	if !at.Before(sub.TermEnd) { // in grace: the last period paid (the renewal shows the next)
		cur.Period = sub.Period(sub.TermEnd.Add(-time.Nanosecond))
	}
	if r, err := s.DueRenewal(ctx, sub); err == nil {
		cur.Renewal = &r
	} else if !errors.Is(err, ErrNotFound) {
		return Current{}, wrap("current", err)
	}
	if cur.NextPaid, err = nextPeriodPaid(ctx, s.pool, sub, at); err != nil {
		return Current{}, wrap("current", err)
	}
	cur.Grant, err = grantWhere(ctx, s.pool, `subscription_id = $1 AND period_start <= $2 AND period_end > $2
ORDER BY period_start DESC LIMIT 1`, sub.ID, at) // an extension adds a moved month
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	return cur, wrap("current", err)
}

// Events returns the history of a subscription, oldest first.
//
// Errors: database errors wrapped with "plans: events:".
func (s *Subscriptions) Events(ctx context.Context, subscriptionID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subscription_id, kind, plan_code, plan_version, term_end, actor, note, at
FROM subscription_events WHERE subscription_id = $1 ORDER BY id`, subscriptionID)
	if err != nil {
		return nil, wrap("events", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	for i := range es {
		es[i].TermEnd, es[i].At = es[i].TermEnd.UTC(), es[i].At.UTC()
	}
	return es, wrap("events", err)
}

// Grants returns the grants of a subscription, oldest first.
//
// Errors: database errors wrapped with "plans: grants:".
func (s *Subscriptions) Grants(ctx context.Context, subscriptionID int64) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, selectGrant+` WHERE subscription_id = $1 ORDER BY period_start`, subscriptionID)
	if err != nil {
		return nil, wrap("grants", err)
	}
	gs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Grant])
	for i := range gs {
		gs[i] = gs[i].utc()
	}
	return gs, wrap("grants", err)
}

const subscriptionColumns = `id, account_id, plan_code, plan_version, cycle, anchor, started_at, term_end, state,
coalesce(next_plan_code, '') AS next_plan_code, coalesce(next_plan_version, 0) AS next_plan_version,
coalesce(next_cycle, '') AS next_cycle, grace_until, extended_start, extended_end, created_at, updated_at`

const selectGrant = `SELECT subscription_id, period_start, period_end, plan_code, plan_version, credits,
coalesce(lot_id, 0) AS lot_id, granted_at FROM subscription_grants`

func subscriptionWhere(ctx context.Context, q db.DBTX, where string, args ...any) (Subscription, error) {
	rows, err := q.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE `+where, args...)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, ErrNotFound
	}
	return sub.utc(), err
}

// utc puts the subscription's instants in UTC, as they are stored.
func (s Subscription) utc() Subscription {
	s.Anchor, s.StartedAt, s.TermEnd, s.CreatedAt, s.UpdatedAt = s.Anchor.UTC(), s.StartedAt.UTC(), s.TermEnd.UTC(), s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	if s.GraceUntil != nil {
		g := s.GraceUntil.UTC()
		s.GraceUntil = &g
	}
	if s.ExtendedStart != nil && s.ExtendedEnd != nil {
		a, b := s.ExtendedStart.UTC(), s.ExtendedEnd.UTC()
		s.ExtendedStart, s.ExtendedEnd = &a, &b
	}
	return s
}

// utc puts the grant's instants in UTC, as they are stored.
func (g Grant) utc() Grant {
	g.PeriodStart, g.PeriodEnd, g.GrantedAt = g.PeriodStart.UTC(), g.PeriodEnd.UTC(), g.GrantedAt.UTC()
	return g
}

func grantWhere(ctx context.Context, q db.DBTX, where string, args ...any) (Grant, error) {
	rows, err := q.Query(ctx, selectGrant+` WHERE `+where, args...)
	if err != nil {
		return Grant{}, err
	}
	g, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Grant])
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, ErrNotFound
	}
	return g.utc(), err
}

func insertSubscription(ctx context.Context, tx pgx.Tx, sub Subscription, now time.Time) (Subscription, error) {
	rows, err := tx.Query(ctx, `
INSERT INTO subscriptions (account_id, plan_code, plan_version, cycle, anchor, term_end, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
RETURNING `+subscriptionColumns,
		sub.AccountID, sub.PlanCode, sub.PlanVersion, sub.Cycle, sub.Anchor, sub.TermEnd, sub.State, now)
	if err != nil {
		return Subscription{}, err
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Subscription])
	out = out.utc()
	switch {
	case db.IsUniqueViolation(err, "subscriptions_live_key"):
		return Subscription{}, ErrAlreadySubscribed
	case isForeignKeyViolation(err, "subscriptions_account_id_fkey"):
		return Subscription{}, ledger.ErrNotFound
	}
	return out, err
}

func insertEvent(ctx context.Context, tx pgx.Tx, sub Subscription, kind EventKind, actor, note string, at time.Time) error {
	_, err := tx.Exec(ctx, `
INSERT INTO subscription_events (subscription_id, kind, plan_code, plan_version, term_end, actor, note, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sub.ID, kind, sub.PlanCode, sub.PlanVersion, sub.TermEnd, actor, note, at)
	return err
}

// isForeignKeyViolation reports a foreign key violation (23503) on the
// named constraint.
func isForeignKeyViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == name
}

// renewalPlan is what the subscription's next period is sold as: the change
// scheduled for the period's end (a downgrade) when there is one, else the
// same plan at its latest published version (a subscriber keeps its version
// until the next renewal, then takes the version in force) and cycle. The
// one rule for every renewal, paid or not.
func renewalPlan(ctx context.Context, q db.DBTX, sub Subscription) (Plan, Cycle, error) {
	if sub.NextPlanCode != "" {
		p, err := latest(ctx, q, sub.NextPlanCode)
		return p, sub.NextCycle, err
	}
	p, err := latest(ctx, q, sub.PlanCode)
	return p, sub.Cycle, err
}

// Status is an account's subscription in force as the API reports it: the
// subscription, its current period, its renewal date and the plan version
// it holds (names, credits).
type Status struct {
	Current
	Plan Plan
	// RenewsAt is when the next period starts (the term end) for an
	// active or past-due subscription; nil when it will not renew
	// (canceled, comped or granted terms end at TermEnd).
	RenewsAt *time.Time
}

// Status returns the account's subscription in force now with its plan.
//
// Errors: ErrNotFound when the account has no subscription in force;
// database errors wrapped with "plans: status:".
func (s *Subscriptions) Status(ctx context.Context, accountID int64) (Status, error) {
	cur, err := s.Current(ctx, accountID)
	if err != nil {
		return Status{}, err
	}
	ps, err := loadPlans(ctx, s.pool, `WHERE code = $1 AND version = $2`, cur.PlanCode, cur.PlanVersion)
	if err == nil && len(ps) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Status{}, wrap("status", err)
	}
	st := Status{Current: cur, Plan: ps[0]}
	if cur.State == Active || cur.State == PastDue {
		t := cur.TermEnd
		st.RenewsAt = &t
	}
	return st, nil
}
