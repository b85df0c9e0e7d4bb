package plans

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// testClock is a clock tests move by hand; safe for concurrent reads.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func newClock(t time.Time) *testClock { c := &testClock{}; c.Set(t); return c }

// subBundle is what a subscription test works with: the catalogue, the
// subscriptions and the ledger on one clock, a published plan and an
// account of the test's own.
type subBundle struct {
	clock   *testClock
	plans   *Service
	subs    *Subscriptions
	ledger  *ledger.Ledger
	plan    Plan
	account int64
}

func setupSubs(t *testing.T, start time.Time) *subBundle {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.AppPool(t)
	b := &subBundle{clock: newClock(start)}
	b.plans = New(pool, Options{Now: b.clock.Now})
	b.ledger = ledger.New(pool, ledger.Options{Now: b.clock.Now})
	t.Cleanup(b.ledger.Close)
	b.subs = NewSubscriptions(pool, b.ledger, Options{Now: b.clock.Now})
	d, err := b.plans.CreateDraft(ctx, testSpec(t), "ops@example.com")
	require.NoError(t, err)
	b.plan, err = b.plans.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "subscriber"})
	require.NoError(t, err)
	b.account = acc.ID
	return b
}

// planLots are the account's plan lots, oldest first.
func (b *subBundle) planLots(t *testing.T) []ledger.Lot {
	t.Helper()
	lots, err := b.ledger.Lots(context.Background(), b.account)
	require.NoError(t, err)
	var out []ledger.Lot
	for _, l := range lots {
		if l.Kind == ledger.LotPlan {
			out = append(out, l)
		}
	}
	return out
}

// The subscription tests are not parallel: GrantDue works on every
// subscription, and each test moves its clock over months.

func TestGrantExactlyOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	b := setupSubs(t, start)

	sub, first, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.NotZero(t, first.LotID, "subscribing grants the first period at once")
	_, end := PeriodAt(start, Monthly, 0)
	require.Equal(t, end, first.PeriodEnd)

	t.Run("TwiceInOnePeriod", func(t *testing.T) {
		for range 2 {
			_, err := b.subs.GrantDue(ctx, start.Add(time.Hour))
			require.NoError(t, err)
		}
		require.Len(t, b.planLots(t), 1)
	})

	t.Run("Concurrent64", func(t *testing.T) {
		// The second month: 64 jobs at once (and then twice more) grant it once.
		at := end.Add(time.Minute)
		b.clock.Set(at)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.subs.GrantDue(ctx, at)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for range 2 {
			_, err := b.subs.GrantDue(ctx, at)
			require.NoError(t, err)
		}

		// The subscription's term is one month: a monthly plan unpaid after
		// its period goes past due (renewal not paid), so the second month
		// grants nothing; 66 runs order the renewal once and start one grace.
		lots := b.planLots(t)
		require.Len(t, lots, 1, "one lot per period, none after the term")
		cur, err := b.subs.Events(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, []EventKind{EventCreated, EventRenewalOrdered, EventPastDue}, kinds(cur), "renewal and grace are events")
	})
}

func TestCompGrantsEachMonthOnce(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	b := setupSubs(t, start)

	sub, g, err := b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 3, Actor: "ops@example.com", Note: "partner"})
	require.NoError(t, err)
	require.Equal(t, Canceled, sub.State, "a comp does not renew")
	_, termEnd := PeriodAt(start, Monthly, 2)
	require.Equal(t, termEnd, sub.TermEnd)
	require.True(t, g.Credits.Equal(b.plan.MonthlyCredits))

	_, _, err = b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 1, Actor: "ops@example.com"})
	require.ErrorIs(t, err, ErrAlreadySubscribed)
	_, _, err = b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 0, Actor: "ops@example.com"})
	require.ErrorIs(t, err, ErrInvalidTerm)

	for n := 1; n <= 3; n++ { // month 2, month 3, then after the term
		at, _ := PeriodAt(start, Monthly, n)
		at = at.Add(time.Second)
		b.clock.Set(at)
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.subs.GrantDue(ctx, at); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		gs, err := b.subs.Grants(ctx, sub.ID)
		require.NoError(t, err)
		require.Len(t, gs, min(n+1, 3), "after month %d's start, 64 jobs at once", n+1)
		require.Len(t, b.planLots(t), min(n+1, 3))
	}
	lots := b.planLots(t)
	require.Len(t, lots, 3)
	for i, l := range lots {
		_, end := PeriodAt(start, Monthly, i)
		require.Equal(t, end, l.ExpiresAt.UTC(), "lot %d expires at its month's end", i)
		require.True(t, l.Amount.Equal(b.plan.MonthlyCredits))
	}
	es, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventComped, EventExpired}, kinds(es))
	require.Equal(t, "partner", es[0].Note)
}

func TestYearlyGrantsMonthByMonth(t *testing.T) {
	ctx := context.Background()
	// 31 Jan in Shanghai: the months end on 28/29 Feb, 31 Mar, 30 Apr, …
	start := time.Date(time.Now().Year()+1, time.January, 31, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)).UTC()
	b := setupSubs(t, start)

	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Yearly, Anchor: start, Actor: "test"})
	require.NoError(t, err)
	_, yearEnd := PeriodAt(start, Yearly, 0)
	require.Equal(t, yearEnd, sub.TermEnd)

	for n := 1; n < 12; n++ {
		at, _ := PeriodAt(start, Monthly, n)
		b.clock.Set(at)
		for range 2 {
			_, err := b.subs.GrantDue(ctx, at)
			require.NoError(t, err)
		}
	}
	lots := b.planLots(t)
	require.Len(t, lots, 12, "twelve monthly lots, one per month")
	for i, l := range lots {
		_, end := PeriodAt(start, Monthly, i)
		require.Equal(t, end, l.ExpiresAt.UTC(), "month %d's lot expires at that month's end", i+1)
	}
	require.Equal(t, 28+(boolInt(isLeap(start.Year()))), lots[0].ExpiresAt.In(time.FixedZone("CST", 8*3600)).Day(),
		"a 31 Jan start's first month ends on the last day of February")
	gs, err := b.subs.Grants(ctx, sub.ID)
	require.NoError(t, err)
	require.Len(t, gs, 12)
	require.Equal(t, lots[11].ID, gs[11].LotID)

	cur, err := b.subs.Current(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, sub.ID, cur.ID)
	require.Equal(t, lots[11].ID, cur.Grant.LotID, "the current grant is the latest month's")
	require.Equal(t, Period{Start: start, End: yearEnd}, cur.Period)
}

func kinds(es []Event) []EventKind {
	out := make([]EventKind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestOneSubscriptionInForceUnder64ConcurrentComps(t *testing.T) {
	ctx := context.Background()
	b := setupSubs(t, time.Now().UTC().Truncate(time.Second))
	var wg sync.WaitGroup
	var ok, taken atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 1, Actor: "ops@example.com"})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrAlreadySubscribed):
				taken.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(1), ok.Load())
	require.Equal(t, int64(63), taken.Load())
	require.Len(t, b.planLots(t), 1, "one comp, one lot")
}

func TestALaterStartIsGrantedWhenItBegins(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	b := setupSubs(t, now)
	anchor := now.Add(36 * time.Hour)
	_, g, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Anchor: anchor, Actor: "test"})
	require.NoError(t, err)
	require.Zero(t, g.LotID, "no plan credit before the plan starts")
	_, err = b.subs.GrantDue(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, b.planLots(t))
	_, err = b.subs.Current(ctx, b.account)
	require.ErrorIs(t, err, ErrNotFound, "not in force yet")

	b.clock.Set(anchor)
	_, err = b.subs.GrantDue(ctx, anchor)
	require.NoError(t, err)
	lots := b.planLots(t)
	require.Len(t, lots, 1)
	_, end := PeriodAt(anchor, Monthly, 0)
	require.Equal(t, end, lots[0].ExpiresAt.UTC())
}
