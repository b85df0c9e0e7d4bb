package plans

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// shu is a Shanghai wall-clock instant in UTC, as the store returns it.
func shu(y int, m time.Month, d, hh, mm int) time.Time { return sh(y, m, d, hh, mm).UTC() }

func TestNextPeriodAcrossRenewals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		anchor time.Time
		cycle  Cycle
		ends   []time.Time // the term end after the first period, then after each renewal
	}{
		{"MonthEndCommonYear", shu(2027, 1, 31, 10, 0), Monthly,
			[]time.Time{shu(2027, 2, 28, 10, 0), shu(2027, 3, 31, 10, 0), shu(2027, 4, 30, 10, 0), shu(2027, 5, 31, 10, 0)}},
		{"MonthEndLeapYear", shu(2028, 1, 31, 0, 30), Monthly,
			[]time.Time{shu(2028, 2, 29, 0, 30), shu(2028, 3, 31, 0, 30), shu(2028, 4, 30, 0, 30)}},
		{"The30th", shu(2027, 1, 30, 23, 59), Monthly,
			[]time.Time{shu(2027, 2, 28, 23, 59), shu(2027, 3, 30, 23, 59), shu(2027, 4, 30, 23, 59)}},
		{"YearAcrossNewYear", shu(2026, 12, 31, 8, 0), Monthly,
			[]time.Time{shu(2027, 1, 31, 8, 0), shu(2027, 2, 28, 8, 0), shu(2027, 3, 31, 8, 0)}},
		{"YearlyFrom29Feb", shu(2028, 2, 29, 12, 0), Yearly,
			[]time.Time{shu(2029, 2, 28, 12, 0), shu(2030, 2, 28, 12, 0), shu(2031, 2, 28, 12, 0), shu(2032, 2, 29, 12, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, end := PeriodAt(tc.anchor, tc.cycle, 0)
			require.Equal(t, tc.ends[0], end, "first term end")
			sub := Subscription{Anchor: tc.anchor, Cycle: tc.cycle, TermEnd: end}
			for i, want := range tc.ends[1:] {
				next := sub.NextPeriod(tc.cycle)
				require.Equal(t, sub.TermEnd, next.Start, "renewal %d starts at the old term end", i+1)
				require.Equal(t, want, next.End, "renewal %d", i+1)
				sub.TermEnd = next.End
				require.Equal(t, next, sub.Period(next.Start.Add(time.Hour)), "the period shown is the renewed one")
			}
		})
	}
	t.Run("CycleChangeKeepsTheAnchorDay", func(t *testing.T) {
		// Monthly from 31 Jan, renewed twice, then yearly: the year ends on
		// 31 Mar of the next year, and its periods are shown from there.
		sub := Subscription{Anchor: shu(2027, 1, 31, 10, 0), Cycle: Monthly, TermEnd: shu(2027, 3, 31, 10, 0)}
		next := sub.NextPeriod(Yearly)
		require.Equal(t, shu(2028, 3, 31, 10, 0), next.End)
		sub.Cycle, sub.TermEnd = Yearly, next.End
		require.Equal(t, next, sub.Period(shu(2027, 6, 1, 0, 0)))
		sub.Cycle, sub.TermEnd = Monthly, shu(2028, 3, 31, 10, 0)
		require.Equal(t, Period{Start: shu(2028, 2, 29, 10, 0), End: shu(2028, 3, 31, 10, 0)}, sub.Period(shu(2028, 3, 1, 0, 0)))
	})
}

// noticeLog records the notices of the subscriptions a test watches.
type noticeLog struct {
	mu   sync.Mutex
	seen []Notice
}

func (l *noticeLog) notify(_ context.Context, _ pgx.Tx, n Notice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, n)
	return nil
}

// kinds are the notice kinds sent for subscription id, in order.
func (l *noticeLog) kinds(id int64) []EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []EventKind
	for _, n := range l.seen {
		if n.Subscription.ID == id {
			out = append(out, n.Kind)
		}
	}
	return out
}

// renewBundle is a subscription bundle whose Subscriptions record their
// notices, with the default terms (7 days' lead, 3 days' grace).
type renewBundle struct {
	*subBundle
	notices *noticeLog
}

func setupRenewal(t *testing.T, start time.Time) *renewBundle {
	t.Helper()
	b := &renewBundle{subBundle: setupSubs(t, start), notices: &noticeLog{}}
	b.subs = NewSubscriptions(dbtest.AppPool(t), b.ledger, Options{Now: b.clock.Now, Notify: b.notices.notify})
	return b
}

// publish publishes a plan from spec under a fresh code.
func (b *renewBundle) publish(t *testing.T, spec Spec) Plan {
	t.Helper()
	spec.Code = fmt.Sprintf("t%d", codeSeq.Add(1))
	d, err := b.plans.CreateDraft(context.Background(), spec, "ops@example.com")
	require.NoError(t, err)
	p, err := b.plans.Publish(context.Background(), d.ID, "ops@example.com")
	require.NoError(t, err)
	return p
}

// payRenewal pays the account's due renewal as a paid order would.
func (b *renewBundle) payRenewal(t *testing.T, orderNo string) (Subscription, error) {
	t.Helper()
	ctx := context.Background()
	r, err := b.subs.RenewalOffer(ctx, b.account)
	if err != nil {
		return Subscription{}, err
	}
	var sub Subscription
	err = db.InTx(ctx, dbtest.AppPool(t), func(tx pgx.Tx) error {
		var err error
		sub, err = b.subs.RenewPaidTx(ctx, tx, RenewPaid{SubscriptionID: r.SubscriptionID, PeriodStart: r.PeriodStart,
			PlanCode: r.PlanCode, PlanVersion: r.PlanVersion, Cycle: r.Cycle, OrderNo: orderNo, Actor: "test"})
		return err
	})
	return sub, err
}

// run moves the clock to at and runs the job's work.
func (b *renewBundle) run(t *testing.T, at time.Time) {
	t.Helper()
	b.clock.Set(at)
	_, err := b.subs.GrantDue(context.Background(), at)
	require.NoError(t, err)
}

func (b *renewBundle) sub(t *testing.T, id int64) Subscription {
	t.Helper()
	s, err := subscriptionWhere(context.Background(), dbtest.AppPool(t), `id = $1`, id)
	require.NoError(t, err)
	return s
}

// TestRenewalPaidEachPeriod: a monthly plan from 31 Jan is ordered 7 days
// before each term end (once, however often the job runs), paid, and
// renews 28 Feb → 31 Mar → 30 Apr; each month's plan credits are granted
// once, by the job, when the month begins.
func TestRenewalPaidEachPeriod(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 1, 31, 10, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.Equal(t, shu(2027, 2, 28, 10, 0), sub.TermEnd)

	_, err = b.subs.RenewalOffer(ctx, b.account)
	require.ErrorIs(t, err, ErrRenewalNotDue, "not yet within the lead days")

	for i, want := range []time.Time{shu(2027, 3, 31, 10, 0), shu(2027, 4, 30, 10, 0), shu(2027, 5, 31, 10, 0)} {
		termEnd := b.sub(t, sub.ID).TermEnd
		b.run(t, termEnd.AddDate(0, 0, -8))
		_, err := b.subs.DueRenewal(ctx, b.sub(t, sub.ID))
		require.ErrorIs(t, err, ErrNotFound, "no renewal order 8 days ahead")
		for range 3 {
			b.run(t, termEnd.AddDate(0, 0, -7).Add(time.Minute))
		}
		cur, err := b.subs.Current(ctx, b.account)
		require.NoError(t, err)
		require.NotNil(t, cur.Renewal, "the renewal order is made 7 days ahead")
		require.Equal(t, termEnd, cur.Renewal.PeriodStart)
		require.Equal(t, want, cur.Renewal.PeriodEnd)
		require.Equal(t, b.plan.MonthlyPriceFen, cur.Renewal.PriceFen)

		next, err := b.payRenewal(t, fmt.Sprintf("T-%d", i))
		require.NoError(t, err)
		require.Equal(t, want, next.TermEnd, "renewal %d", i+1)
		require.Equal(t, Active, next.State)
		_, err = b.payRenewal(t, fmt.Sprintf("T-%d-again", i))
		require.ErrorIs(t, err, ErrRenewalNotDue, "the next renewal is not due yet")

		b.run(t, termEnd.Add(time.Minute))
		b.run(t, termEnd.Add(2*time.Minute))
		g, err := grantWhere(ctx, dbtest.AppPool(t), `subscription_id = $1 AND period_start = $2`, sub.ID, termEnd)
		require.NoError(t, err, "the renewed month is granted")
		require.True(t, g.Credits.Equal(b.plan.MonthlyCredits))
	}
	grants, err := b.subs.Grants(ctx, sub.ID)
	require.NoError(t, err)
	require.Len(t, grants, 4, "one grant per month")
	require.Len(t, b.planLots(t), 4)
	evs, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventRenewalOrdered, EventRenewed, EventRenewalOrdered, EventRenewed,
		EventRenewalOrdered, EventRenewed}, kinds(evs))
	require.Equal(t, []EventKind{EventRenewalOrdered, EventRenewed, EventRenewalOrdered, EventRenewed, EventRenewalOrdered,
		EventRenewed}, b.notices.kinds(sub.ID), "a reminder and a renewed notice per period")
}

// TestRenewalConcurrentPayments: 16 payments of one period at once renew
// it once; the others are refused.
func TestRenewalConcurrentPayments(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 3, 10, 9, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	b.run(t, sub.TermEnd.AddDate(0, 0, -1))
	r, err := b.subs.RenewalOffer(ctx, b.account)
	require.NoError(t, err)

	errs := make([]error, 16)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = db.InTx(ctx, dbtest.AppPool(t), func(tx pgx.Tx) error {
				_, err := b.subs.RenewPaidTx(ctx, tx, RenewPaid{SubscriptionID: r.SubscriptionID, PeriodStart: r.PeriodStart,
					PlanCode: r.PlanCode, PlanVersion: r.PlanVersion, Cycle: r.Cycle, OrderNo: fmt.Sprintf("T-%d", i), Actor: "test"})
				return err
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, ErrPeriodRenewed)
	}
	require.Equal(t, 1, ok, "one payment renews the period")
	_, end := PeriodAt(anchor, Monthly, 1)
	require.Equal(t, end, b.sub(t, sub.ID).TermEnd, "moved on by one period only")
}

// TestGraceThenExpire: unpaid at the term end, the plan goes past due with
// 3 days' grace (still in force, no new credits), then expires and the
// account has no plan (Free).
func TestGraceThenExpire(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 4, 5, 12, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)

	b.run(t, sub.TermEnd.Add(time.Minute))
	got := b.sub(t, sub.ID)
	require.Equal(t, PastDue, got.State)
	require.NotNil(t, got.GraceUntil)
	require.Equal(t, sub.TermEnd.AddDate(0, 0, 3), *got.GraceUntil, "grace is 3 days from the term end")
	cur, err := b.subs.Current(ctx, b.account)
	require.NoError(t, err, "in force during grace")
	require.Equal(t, PastDue, cur.State)
	require.NotNil(t, cur.Renewal, "the renewal is still payable")
	require.Equal(t, sub.TermEnd, cur.Period.End, "the period shown is the last one paid")
	_, _, err = b.subs.Offer(ctx, b.account, b.plan.Code, Monthly)
	require.ErrorIs(t, err, ErrAlreadySubscribed, "a plan in grace is in force")
	require.Len(t, b.planLots(t), 1, "no credits for the unpaid period")

	b.run(t, got.GraceUntil.Add(-time.Minute))
	require.Equal(t, PastDue, b.sub(t, sub.ID).State)
	b.run(t, got.GraceUntil.Add(time.Second))
	require.Equal(t, Expired, b.sub(t, sub.ID).State)
	_, err = b.subs.Current(ctx, b.account)
	require.ErrorIs(t, err, ErrNotFound, "no plan: the account is on Free")
	_, err = b.payRenewal(t, "T-late")
	require.ErrorIs(t, err, ErrRenewalNotDue, "an expired plan cannot be renewed")

	evs, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventRenewalOrdered, EventPastDue, EventExpired}, kinds(evs))
	require.Equal(t, []EventKind{EventRenewalOrdered, EventPastDue, EventExpired}, b.notices.kinds(sub.ID))
	_, _, err = b.subs.Offer(ctx, b.account, b.plan.Code, Monthly)
	require.NoError(t, err, "a new plan can be bought")
}

// TestGraceThenPay: paid during grace, the plan renews from the original
// term end (no gap, the period not shifted) and this month's credits are
// granted at once.
func TestGraceThenPay(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 5, 31, 18, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.Equal(t, shu(2027, 6, 30, 18, 0), sub.TermEnd)

	b.run(t, sub.TermEnd.AddDate(0, 0, 2))
	require.Equal(t, PastDue, b.sub(t, sub.ID).State)
	next, err := b.payRenewal(t, "T-grace")
	require.NoError(t, err)
	require.Equal(t, Active, next.State)
	require.Nil(t, next.GraceUntil)
	require.Equal(t, shu(2027, 7, 31, 18, 0), next.TermEnd, "anchored to the first day: 31 Jul, not 2 Aug")
	require.Len(t, b.planLots(t), 2, "the renewed month is granted in the payment")
	b.run(t, sub.TermEnd.AddDate(0, 0, 4))
	require.Equal(t, Active, b.sub(t, sub.ID).State, "not expired after the grace end")
	require.Len(t, b.planLots(t), 2)
	evs, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventRenewalOrdered, EventPastDue, EventRenewed}, kinds(evs))
}

// TestDowngradeAppliedAtPeriodEnd: a change scheduled for the period end
// (set directly here) is what the renewal sells: to a cheaper paid plan it
// is ordered at its price and paid early, but applies only when the paid
// period begins (the plan in force stays to the term end); to a free plan
// it applies at the term end without payment. Both write downgraded.
func TestDowngradeAppliedAtPeriodEnd(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.AppPool(t)
	schedule := func(t *testing.T, id int64, p Plan, c Cycle) {
		t.Helper()
		_, err := pool.Exec(ctx, `UPDATE subscriptions SET next_plan_code = $2, next_plan_version = $3, next_cycle = $4 WHERE id = $1`,
			id, p.Code, p.Version, c)
		require.NoError(t, err)
	}

	t.Run("ToCheaperPaidPlan", func(t *testing.T) {
		anchor := shu(2027, 8, 15, 9, 0)
		b := setupRenewal(t, anchor)
		cheap := DemoSpecs()[1]
		cheap.MonthlyPriceFen, cheap.YearlyPriceFen = 900, 9000
		lower := b.publish(t, cheap)
		sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
		require.NoError(t, err)
		schedule(t, sub.ID, lower, Yearly)

		b.run(t, sub.TermEnd.AddDate(0, 0, -3))
		r, err := b.subs.RenewalOffer(ctx, b.account)
		require.NoError(t, err)
		require.Equal(t, lower.Code, r.PlanCode)
		require.Equal(t, Yearly, r.Cycle)
		require.Equal(t, int64(9000), r.PriceFen)
		next, err := b.payRenewal(t, "T-down")
		require.NoError(t, err)
		require.Equal(t, b.plan.Code, next.PlanCode, "paid early: the plan in force stays to the term end")
		require.Equal(t, Monthly, next.Cycle)
		require.Equal(t, lower.Code, next.NextPlanCode, "the change waits for its period")
		require.Equal(t, shu(2028, 9, 15, 9, 0), next.TermEnd, "a year from the old term end")
		b.run(t, sub.TermEnd.Add(time.Minute))
		next = b.sub(t, sub.ID)
		require.Equal(t, lower.Code, next.PlanCode, "the period began: the downgrade applies")
		require.Equal(t, Yearly, next.Cycle)
		require.Empty(t, next.NextPlanCode, "the scheduled change is cleared")
		require.Equal(t, Period{Start: sub.TermEnd, End: next.TermEnd}, next.Period(sub.TermEnd.Add(time.Hour)))
		evs, err := b.subs.Events(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, []EventKind{EventCreated, EventRenewalOrdered, EventRenewed, EventDowngraded}, kinds(evs))
	})

	t.Run("FreeChangeWithdrawn", func(t *testing.T) {
		// A free renewal needs no order; when the change is withdrawn before
		// the term end, the next run orders the paid renewal and reminds.
		anchor := shu(2027, 7, 3, 9, 0)
		b := setupRenewal(t, anchor)
		free := b.publish(t, DemoSpecs()[0])
		sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
		require.NoError(t, err)
		schedule(t, sub.ID, free, Monthly)
		b.run(t, sub.TermEnd.AddDate(0, 0, -5))
		require.Empty(t, b.notices.kinds(sub.ID), "nothing to pay, nothing said")
		_, err = pool.Exec(ctx, `UPDATE subscriptions SET next_plan_code = NULL, next_plan_version = NULL, next_cycle = NULL WHERE id = $1`, sub.ID)
		require.NoError(t, err)
		b.run(t, sub.TermEnd.AddDate(0, 0, -4))
		require.Equal(t, []EventKind{EventRenewalOrdered}, b.notices.kinds(sub.ID))
		r, err := b.subs.RenewalOffer(ctx, b.account)
		require.NoError(t, err)
		require.Equal(t, b.plan.Code, r.PlanCode)
		require.Equal(t, b.plan.MonthlyPriceFen, r.PriceFen)
	})

	t.Run("ToFreeAtTermEnd", func(t *testing.T) {
		anchor := shu(2027, 9, 30, 9, 0)
		b := setupRenewal(t, anchor)
		free := b.publish(t, DemoSpecs()[0])
		require.Zero(t, free.MonthlyPriceFen)
		sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
		require.NoError(t, err)
		schedule(t, sub.ID, free, Monthly)

		b.run(t, sub.TermEnd.AddDate(0, 0, -3))
		_, err = b.subs.RenewalOffer(ctx, b.account)
		require.ErrorIs(t, err, ErrRenewalNotDue, "nothing to pay for a free period")
		cur, err := b.subs.Current(ctx, b.account)
		require.NoError(t, err)
		require.Nil(t, cur.Renewal, "no renewal order shown")

		b.run(t, sub.TermEnd.Add(time.Minute))
		got := b.sub(t, sub.ID)
		require.Equal(t, Active, got.State)
		require.Equal(t, free.Code, got.PlanCode)
		require.Equal(t, shu(2027, 11, 30, 9, 0), got.TermEnd)
		evs, err := b.subs.Events(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, []EventKind{EventCreated, EventDowngraded, EventRenewed}, kinds(evs), "no reminder, no grace")
		require.Equal(t, []EventKind{EventRenewed}, b.notices.kinds(sub.ID))

		// A free plan keeps renewing itself, period after period.
		b.run(t, shu(2028, 1, 31, 9, 1))
		require.Equal(t, shu(2028, 2, 29, 9, 0), b.sub(t, sub.ID).TermEnd)
	})
}

// TestYearlyRenewal: a yearly plan from 29 Feb 2028 is ordered 7 days
// before 28 Feb 2029, paid, and runs to 28 Feb 2030, its credits still
// granted month by month.
func TestYearlyRenewal(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2028, 2, 29, 12, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Yearly, Actor: "test"})
	require.NoError(t, err)
	require.Equal(t, shu(2029, 2, 28, 12, 0), sub.TermEnd)
	b.run(t, sub.TermEnd.AddDate(0, 0, -7))
	r, err := b.subs.RenewalOffer(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, b.plan.YearlyPriceFen, r.PriceFen)
	next, err := b.payRenewal(t, "T-year")
	require.NoError(t, err)
	require.Equal(t, shu(2030, 2, 28, 12, 0), next.TermEnd)
	b.run(t, sub.TermEnd.Add(time.Minute))
	b.run(t, shu(2029, 3, 29, 12, 1))
	g, err := grantWhere(ctx, dbtest.AppPool(t), `subscription_id = $1 AND period_start = $2`, sub.ID, shu(2029, 3, 29, 12, 0))
	require.NoError(t, err, "the renewed year grants month by month")
	require.Equal(t, shu(2029, 4, 29, 12, 0), g.PeriodEnd)
}

// TestCanceledIsNotRenewed: a canceled (comped) plan gets no renewal order
// and expires at its term end.
func TestCanceledIsNotRenewed(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 10, 1, 9, 0)
	b := setupRenewal(t, anchor)
	sub, _, err := b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 1, Actor: "ops@example.com"})
	require.NoError(t, err)
	b.run(t, sub.TermEnd.AddDate(0, 0, -2))
	_, err = b.subs.RenewalOffer(ctx, b.account)
	require.ErrorIs(t, err, ErrRenewalNotDue)
	rs, err := b.subs.Renewals(ctx, sub.ID)
	require.NoError(t, err)
	require.Empty(t, rs)
	b.run(t, sub.TermEnd)
	require.Equal(t, Expired, b.sub(t, sub.ID).State)
	require.Equal(t, []EventKind{EventExpired}, b.notices.kinds(sub.ID))
}

// TestRenewalTermsFromSettings: the lead and grace days in force come from
// Options.RenewalTerms (the settings screen): 2 days' lead orders nothing 3
// days ahead; 0 days' grace expires an unpaid plan at its term end; out of
// bounds values fall back to the defaults.
func TestRenewalTermsFromSettings(t *testing.T) {
	ctx := context.Background()
	anchor := shu(2027, 11, 20, 9, 0)
	b := setupRenewal(t, anchor)
	terms := RenewalTerms{LeadDays: 2, GraceDays: 0}
	var mu sync.Mutex
	b.subs = NewSubscriptions(dbtest.AppPool(t), b.ledger, Options{Now: b.clock.Now, Notify: b.notices.notify,
		RenewalTerms: func() RenewalTerms { mu.Lock(); defer mu.Unlock(); return terms }})
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)

	b.run(t, sub.TermEnd.AddDate(0, 0, -3))
	require.Empty(t, b.notices.kinds(sub.ID), "3 days ahead is before a 2 days' lead")
	b.run(t, sub.TermEnd.AddDate(0, 0, -2))
	require.Equal(t, []EventKind{EventRenewalOrdered}, b.notices.kinds(sub.ID))
	b.run(t, sub.TermEnd)
	require.Equal(t, Expired, b.sub(t, sub.ID).State, "no grace")
	require.Equal(t, []EventKind{EventRenewalOrdered, EventPastDue, EventExpired}, b.notices.kinds(sub.ID))

	mu.Lock()
	terms = RenewalTerms{LeadDays: 0, GraceDays: 99}
	mu.Unlock()
	require.Equal(t, RenewalTerms{LeadDays: DefaultRenewalLeadDays, GraceDays: DefaultGraceDays}, b.subs.renewalTerms())
}
