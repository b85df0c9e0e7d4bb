package plans

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// tierPlan is a plan of the given tier, monthly price (a year costs ten
// months) and monthly credits, for the pure rules.
func tierPlan(code string, tier int, monthlyFen int64, credits string) Plan {
	return Plan{Spec: Spec{Code: code, Tier: tier, MonthlyPriceFen: monthlyFen, YearlyPriceFen: 10 * monthlyFen,
		MonthlyCredits: dec(credits)}, Version: 1}
}

func TestPriceChange(t *testing.T) {
	t.Parallel()
	hundred, twoHundred := tierPlan("hundred", 1, 10_000, "10000"), tierPlan("two", 2, 20_000, "30000")
	basic, standard, pro := tierPlan("basic", 1, 2_900, "20000"), tierPlan("standard", 2, 9_900, "80000"), tierPlan("pro", 3, 29_900, "300000")
	same := tierPlan("same", 2, 2_900, "20000") // a higher tier at Basic's price
	// April 2027 has 30 days: a monthly plan from 1 Apr.
	anchor := shu(2027, 4, 1, 0, 0)
	_, end := PeriodAt(anchor, Monthly, 0)
	monthly := Subscription{ID: 7, Anchor: anchor, Cycle: Monthly, TermEnd: end, State: Active}
	_, yEnd := PeriodAt(anchor, Yearly, 0)
	yearly := Subscription{ID: 8, Anchor: anchor, Cycle: Yearly, TermEnd: yEnd, State: Active}
	left := func(days int) time.Time { return end.Add(-time.Duration(days) * 24 * time.Hour) }
	for _, tc := range []struct {
		name     string
		sub      Subscription
		from, to Plan
		cycle    Cycle
		at       time.Time
		kind     ChangeKind
		fen      int64
		credits  string
		err      error
	}{
		// The example: ¥100 → ¥200 with 15 of 30 days left is ¥50.00.
		{"HundredToTwoHundredHalfway", monthly, hundred, twoHundred, Monthly, left(15), ChangeUpgrade, 5_000, "10000", nil},
		// Upgrade twice in one period: the second is priced from the first's
		// plan (Standard), not from Basic.
		{"FirstUpgradeBasicToStandard", monthly, basic, standard, Monthly, left(20), ChangeUpgrade, 4_667, "40000", nil},
		{"SecondUpgradeStandardToPro", monthly, standard, pro, Monthly, left(10), ChangeUpgrade, 6_667, "73333.333333", nil},
		// Downgrade then upgrade: a scheduled downgrade changed nothing, so
		// the upgrade is priced from the plan in force (Standard).
		{"DowngradeIsScheduled", monthly, standard, basic, Monthly, left(15), ChangeScheduled, 0, "0", nil},
		{"UpgradeAfterScheduledDowngrade", monthly, standard, pro, Monthly, left(15), ChangeUpgrade, 10_000, "110000", nil},
		{"YearlyToMonthlyIsScheduled", yearly, basic, basic, Monthly, left(15), ChangeScheduled, 0, "0", nil},
		{"MonthlyToYearlyIsScheduled", monthly, basic, basic, Yearly, left(15), ChangeScheduled, 0, "0", nil},
		{"LowerTierYearlyToMonthly", yearly, standard, basic, Monthly, left(3), ChangeScheduled, 0, "0", nil},
		// A yearly plan: the price over the year, the credits over the month.
		// 20 days of a 366-day year (to 1 Apr 2028) left after 345.
		{"YearlyUpgrade", yearly, basic, standard, Yearly, yEnd.Add(-20 * 24 * time.Hour), ChangeUpgrade, 3_825, "", nil},
		{"YearlyUpgradeMidMonth", yearly, basic, standard, Yearly, left(15), ChangeUpgrade, 0, "30000", nil},
		{"HigherTierSamePriceCostsNothing", monthly, basic, same, Monthly, left(15), ChangeUpgrade, 0, "0", nil},
		{"SamePlan", monthly, basic, basic, Monthly, left(15), "", 0, "", ErrSamePlan},
		{"UpgradeWithAnotherCycle", monthly, basic, standard, Yearly, left(15), "", 0, "", ErrCycleWithUpgrade},
		{"AfterTheTerm", monthly, basic, standard, Monthly, end, "", 0, "", ErrOutsidePeriod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := PriceChange(tc.sub, tc.from, tc.to, tc.cycle, tc.at)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.kind, c.Kind)
			require.Equal(t, tc.to.Code, c.To.Code)
			require.Equal(t, priceFor(tc.to, tc.cycle), c.NextPriceFen)
			if tc.kind == ChangeScheduled {
				require.Equal(t, tc.sub.TermEnd, c.EffectiveAt, "a scheduled change applies at the term's end")
				require.Zero(t, c.PriceFen)
				require.True(t, c.Credits.IsZero())
				return
			}
			require.Equal(t, tc.at, c.EffectiveAt)
			if tc.name == "YearlyUpgradeMidMonth" { // the month's credit share, the year's price share
				want, err := UpgradePrice(29_000, 99_000, anchor, yEnd, tc.at)
				require.NoError(t, err)
				tc.fen = want
			}
			if tc.name == "YearlyUpgrade" {
				mStart, mEnd := PeriodAt(anchor, Monthly, 11)
				cr, err := UpgradeCredits(dec("20000"), dec("80000"), mStart, mEnd, tc.at)
				require.NoError(t, err)
				tc.credits = cr.String()
				require.Equal(t, "38709.677419", tc.credits, "60000 × 20/31")
				require.Equal(t, Period{Start: mStart, End: mEnd}, c.GrantPeriod, "yearly credits expire with the month")
			}
			require.Equal(t, tc.fen, c.PriceFen)
			require.Equal(t, tc.credits, c.Credits.String())
		})
	}
}

// changeBundle is a renewal bundle with three tiers of plans published
// and a monthly subscription to the lowest, begun at 1 Apr 2027 (a 30-day
// period).
type changeBundle struct {
	*renewBundle
	low, mid, high Plan
	first          Subscription
}

func setupChange(t *testing.T) *changeBundle {
	t.Helper()
	anchor := shu(2027, 4, 1, 0, 0)
	b := &changeBundle{renewBundle: setupRenewal(t, anchor)}
	spec := func(tier int, fen int64, credits string) Spec {
		s := testSpec(t)
		s.Tier, s.MonthlyPriceFen, s.YearlyPriceFen, s.MonthlyCredits = tier, fen, 10*fen, dec(credits)
		return s
	}
	b.low, b.mid, b.high = b.publish(t, spec(1, 2_900, "20000")), b.publish(t, spec(2, 9_900, "80000")), b.publish(t, spec(3, 29_900, "300000"))
	var err error
	b.first, _, err = b.subs.Subscribe(context.Background(), SubscribeRequest{AccountID: b.account, PlanCode: b.low.Code,
		Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	return b
}

// at moves the clock to days days before the term's end.
func (b *changeBundle) left(days int) time.Time {
	at := b.first.TermEnd.Add(-time.Duration(days) * 24 * time.Hour)
	b.clock.Set(at)
	return at
}

// pay applies a priced upgrade as its paid order would.
func (b *changeBundle) pay(t *testing.T, c Change, orderNo string) (Change, error) {
	t.Helper()
	orderNo = fmt.Sprintf("%s-%d", orderNo, b.first.ID) // order numbers are unique in the database
	var out Change
	err := db.InTx(context.Background(), dbtest.AppPool(t), func(tx pgx.Tx) error {
		var err error
		out, err = b.subs.UpgradePaidTx(context.Background(), tx, UpgradePaid{SubscriptionID: c.SubscriptionID, FromCode: c.From.Code,
			FromVersion: c.From.Version, ToCode: c.To.Code, ToVersion: c.To.Version, Cycle: c.ToCycle, PriceFen: c.PriceFen,
			PricedAt: c.At, OrderNo: orderNo, Actor: "test"})
		return err
	})
	return out, err
}

// lotAmounts are the account's plan lots' amounts and expiries.
func (b *changeBundle) lotAmounts(t *testing.T) ([]string, []time.Time) {
	var amounts []string
	var exps []time.Time
	for _, l := range b.planLots(t) {
		amounts = append(amounts, l.Amount.String())
		exps = append(exps, l.ExpiresAt.UTC())
	}
	return amounts, exps
}

// TestUpgradeTwiceAndDowngradeThenUpgrade: an upgrade is priced, paid and
// applied at once with its credit difference as a plan lot expiring at the
// period's end; a second upgrade in the period is priced from the first's
// plan; a downgrade scheduled in between is cleared by the upgrade.
func TestUpgradeTwiceAndDowngradeThenUpgrade(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)

	b.left(20)
	preview, err := b.subs.PreviewChange(ctx, b.account, b.mid.Code, Monthly)
	require.NoError(t, err)
	require.Equal(t, ChangeUpgrade, preview.Kind)
	require.Equal(t, int64(4_667), preview.PriceFen, "(99 − 29) × 20/30 = 46.67")
	require.Equal(t, "40000", preview.Credits.String())
	c, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.False(t, c.Applied, "an upgrade that costs something waits for its payment")
	require.Equal(t, b.low.Code, b.sub_(t).PlanCode)
	_, err = b.pay(t, c, "UP-1")
	require.NoError(t, err)
	require.Equal(t, b.mid.Code, b.sub_(t).PlanCode, "the upgrade applies at once")
	_, err = b.pay(t, c, "UP-1")
	require.ErrorIs(t, err, ErrUpgradeSuperseded, "an order applies once")

	// Downgrade scheduled, then an upgrade: priced from mid (in force), and
	// the scheduled downgrade is gone.
	b.left(15)
	down, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.low.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.True(t, down.Applied)
	require.Equal(t, ChangeScheduled, down.Kind)
	require.Equal(t, b.first.TermEnd, down.EffectiveAt)
	require.Equal(t, b.low.Code, b.sub_(t).NextPlanCode)
	require.Equal(t, b.mid.Code, b.sub_(t).PlanCode, "the plan in force stays until the period's end")

	b.left(10)
	up, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.high.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	require.Equal(t, int64(6_667), up.PriceFen, "(299 − 99) × 10/30, from the upgraded plan")
	require.Equal(t, "73333.333333", up.Credits.String())
	_, err = b.pay(t, up, "UP-2")
	require.NoError(t, err)
	s := b.sub_(t)
	require.Equal(t, b.high.Code, s.PlanCode)
	require.Empty(t, s.NextPlanCode, "the upgrade cleared the scheduled downgrade")

	amounts, exps := b.lotAmounts(t)
	require.Equal(t, []string{"20000", "40000", "73333.333333"}, amounts, "the month's grant, then each upgrade's difference")
	for _, e := range exps {
		require.Equal(t, b.first.TermEnd, e, "every plan lot expires at the period's end")
	}
	evs, err := b.subs.Events(ctx, b.first.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventUpgraded, EventDowngradeScheduled, EventUpgraded}, kinds(evs))
	from, ok := evs[1].Other()
	require.True(t, ok)
	require.Equal(t, PlanRef{Code: b.low.Code, Version: b.low.Version, Cycle: Monthly}, from)
	to, ok := evs[2].Other()
	require.True(t, ok)
	require.Equal(t, b.low.Code, to.Code)
	require.Equal(t, []EventKind{EventUpgraded, EventDowngradeScheduled, EventUpgraded}, b.notices.kinds(b.first.ID))
	ups, err := b.subs.Upgrades(ctx, b.first.ID)
	require.NoError(t, err)
	require.Len(t, ups, 2)
	require.Equal(t, int64(4_667), ups[0].PriceFen)
	require.Equal(t, fmt.Sprintf("UP-2-%d", b.first.ID), ups[1].OrderNo)

	// Going back up to a lower plan is a downgrade; the plan itself is no change.
	_, err = b.subs.PreviewChange(ctx, b.account, b.high.Code, Monthly)
	require.ErrorIs(t, err, ErrSamePlan)
	_, err = b.subs.PreviewChange(ctx, b.account, b.high.Code, Yearly)
	require.NoError(t, err, "a cycle change is scheduled")
}

// sub_ reads the bundle's subscription now.
func (b *changeBundle) sub_(t *testing.T) Subscription { return b.renewBundle.sub(t, b.first.ID) }

// TestDowngradeAppliesAtRenewal: a scheduled downgrade keeps the plan and
// its credits to the period's end; the renewal order is repriced to the new
// plan; the renewal applies it (downgraded) and the new plan's first grant
// comes with the next period. Withdrawing puts the old renewal back.
func TestDowngradeAppliesAtRenewal(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	b.left(20)
	c, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	_, err = b.pay(t, c, "UP-1")
	require.NoError(t, err)

	// The renewal order is made 7 days ahead for mid.
	b.run(t, b.left(7).Add(time.Minute))
	r, err := b.subs.DueRenewal(ctx, b.sub_(t))
	require.NoError(t, err)
	require.Equal(t, b.mid.Code, r.PlanCode)
	require.Equal(t, int64(9_900), r.PriceFen)

	_, err = b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.low.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	r, err = b.subs.DueRenewal(ctx, b.sub_(t))
	require.NoError(t, err)
	require.Equal(t, b.low.Code, r.PlanCode, "the unpaid renewal is repriced to the downgrade")
	require.Equal(t, int64(2_900), r.PriceFen)

	_, err = b.subs.WithdrawChange(ctx, b.account, "test")
	require.NoError(t, err)
	require.Empty(t, b.sub_(t).NextPlanCode)
	r, err = b.subs.DueRenewal(ctx, b.sub_(t))
	require.NoError(t, err)
	require.Equal(t, b.mid.Code, r.PlanCode, "withdrawn: the renewal sells the plan in force again")
	_, err = b.subs.WithdrawChange(ctx, b.account, "test")
	require.ErrorIs(t, err, ErrNoScheduledChange)

	_, err = b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.low.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	// A renewal order opened for mid before the downgrade is superseded.
	err = db.InTx(ctx, dbtest.AppPool(t), func(tx pgx.Tx) error {
		_, err := b.subs.RenewPaidTx(ctx, tx, RenewPaid{SubscriptionID: b.first.ID, PeriodStart: b.first.TermEnd, PlanCode: b.mid.Code,
			PlanVersion: b.mid.Version, Cycle: Monthly, OrderNo: "OLD", Actor: "test"})
		return err
	})
	require.ErrorIs(t, err, ErrPeriodRenewed, "a renewal order for the old plan no longer pays the period")
	lotsBefore, _ := b.lotAmounts(t)
	require.Equal(t, []string{"20000", "40000"}, lotsBefore, "the plan credits stay to the period's end")
	require.Equal(t, b.mid.Code, b.sub_(t).PlanCode)

	next, err := b.payRenewal(t, "REN-1")
	require.NoError(t, err)
	require.Equal(t, b.mid.Code, next.PlanCode, "paid early: the plan in force stays to the period's end")
	require.Equal(t, b.low.Code, next.NextPlanCode)
	amounts, _ := b.lotAmounts(t)
	require.Equal(t, lotsBefore, amounts, "no grant of the new plan before its period")
	_, err = b.subs.PreviewChange(ctx, b.account, b.high.Code, Monthly)
	require.ErrorIs(t, err, ErrNextPeriodPaid, "the next period is paid as the downgrade: no change until it begins")
	_, err = b.subs.WithdrawChange(ctx, b.account, "test")
	require.ErrorIs(t, err, ErrNextPeriodPaid)
	b.run(t, b.first.TermEnd.Add(time.Minute))
	s := b.sub_(t)
	require.Equal(t, b.low.Code, s.PlanCode, "the renewal's period began: the downgrade applies")
	require.Empty(t, s.NextPlanCode)
	require.Equal(t, next.TermEnd, s.TermEnd)
	amounts, exps := b.lotAmounts(t)
	require.Equal(t, []string{"20000", "40000", "20000"}, amounts, "the new plan's first grant with the next period")
	require.Equal(t, next.TermEnd, exps[2])
	evs, err := b.subs.Events(ctx, b.first.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventUpgraded, EventRenewalOrdered, EventDowngradeScheduled, EventChangeWithdrawn,
		EventDowngradeScheduled, EventRenewed, EventDowngraded}, kinds(evs))
}

// TestCancelResumeAndRefusals: cancel turns renewal off (access to the
// term's end, then expiry), resume turns it back on; a comp cannot be
// resumed or changed; a past-due plan refuses every change.
func TestCancelResumeAndRefusals(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	b.left(20)
	s, err := b.subs.Cancel(ctx, b.account, "test")
	require.NoError(t, err)
	require.Equal(t, Canceled, s.State)
	_, err = b.subs.Cancel(ctx, b.account, "test")
	require.NoError(t, err, "canceling twice changes nothing")
	_, err = b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.ErrorIs(t, err, ErrNotChangeable, "resume before changing")
	cur, err := b.subs.Current(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, b.first.TermEnd, cur.TermEnd, "access lasts to the period's end")
	s, err = b.subs.Resume(ctx, b.account, "test")
	require.NoError(t, err)
	require.Equal(t, Active, s.State)
	_, err = b.subs.Cancel(ctx, b.account, "test")
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCanceled, EventResumed, EventCanceled}, b.notices.kinds(b.first.ID)[0:3])
	b.run(t, b.first.TermEnd.Add(time.Minute))
	require.Equal(t, Expired, b.sub_(t).State, "a canceled plan ends with its term")
	_, err = b.subs.Resume(ctx, b.account, "test")
	require.ErrorIs(t, err, ErrNotFound, "nothing to resume after the end")

	// A comp is canceled from the start: it never renews, so it cannot resume.
	comp, _, err := b.subs.Comp(ctx, CompRequest{AccountID: b.account, PlanCode: b.low.Code, Months: 1, Actor: "staff"})
	require.NoError(t, err)
	_, err = b.subs.Resume(ctx, b.account, "test")
	require.ErrorIs(t, err, ErrNotCanceled)

	// Past due: every change is refused until the renewal is paid.
	b.run(t, comp.TermEnd.Add(time.Minute))
	paid, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	b.run(t, paid.TermEnd.Add(time.Minute))
	require.Equal(t, PastDue, b.renewBundle.sub(t, paid.ID).State)
	for name, err := range map[string]error{
		"upgrade": func() error {
			_, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.high.Code, Cycle: Monthly, Actor: "test"})
			return err
		}(),
		"downgrade": func() error {
			_, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.low.Code, Cycle: Monthly, Actor: "test"})
			return err
		}(),
		"preview": func() error { _, err := b.subs.PreviewChange(ctx, b.account, b.high.Code, Monthly); return err }(),
		"cancel":  func() error { _, err := b.subs.Cancel(ctx, b.account, "test"); return err }(),
	} {
		require.ErrorIs(t, err, ErrPastDue, name)
	}
}

// TestFreeUpgradeAppliesAtOnce: an upgrade that costs 0 fen needs no
// order: ChangePlan applies it, once, however many requests race.
func TestFreeUpgradeAppliesAtOnce(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	s := testSpec(t)
	s.Tier, s.MonthlyPriceFen, s.YearlyPriceFen, s.MonthlyCredits = 2, b.low.MonthlyPriceFen, b.low.YearlyPriceFen, dec("50000")
	free := b.publish(t, s)
	b.left(15)
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: free.Code, Cycle: Monthly, Actor: "test"})
		})
	}
	wg.Wait()
	applied := 0
	for _, err := range errs {
		switch {
		case err == nil:
			applied++
		default:
			require.ErrorIs(t, err, ErrSamePlan, "after the first, the plan is in force")
		}
	}
	require.Equal(t, 1, applied)
	require.Equal(t, free.Code, b.sub_(t).PlanCode)
	amounts, _ := b.lotAmounts(t)
	require.Equal(t, []string{"20000", "15000"}, amounts, "(50000 − 20000) × 15/30")
}

// TestRacingUpgradesApplyOnce: two upgrade orders priced from the same
// plan (to mid and to high), each reported paid by 32 goroutines at once:
// exactly one applies, once; the other is superseded every time (payments
// sends it to review); there is never a second upgrade from one version.
func TestRacingUpgradesApplyOnce(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	b.left(15)
	var orders []Change
	for _, p := range []Plan{b.mid, b.high} {
		c, err := b.subs.PreviewChange(ctx, b.account, p.Code, Monthly)
		require.NoError(t, err)
		orders = append(orders, c)
	}
	results := make([][]error, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k, c := range orders {
		results[k] = make([]error, 32)
		for i := range results[k] {
			wg.Go(func() {
				<-start
				_, results[k][i] = b.pay(t, c, fmt.Sprintf("RACE-%d", k))
			})
		}
	}
	close(start)
	wg.Wait()
	applied := map[int]int{}
	for k := range results {
		for _, err := range results[k] {
			if err == nil {
				applied[k]++
				continue
			}
			require.True(t, errors.Is(err, ErrUpgradeSuperseded), "%v", err)
		}
	}
	require.Len(t, applied, 1, "one order applies")
	for _, n := range applied {
		require.Equal(t, 1, n, "once")
	}
	ups, err := b.subs.Upgrades(ctx, b.first.ID)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	evs, err := b.subs.Events(ctx, b.first.ID)
	require.NoError(t, err)
	require.Equal(t, []EventKind{EventCreated, EventUpgraded}, kinds(evs))
	require.Len(t, b.planLots(t), 2)
	// The database refuses a second upgrade from the same version outright.
	_, err = dbtest.AppPool(t).Exec(ctx, `INSERT INTO subscription_upgrades (subscription_id, period_start, period_end,
from_plan_code, from_plan_version, to_plan_code, to_plan_version, cycle, price_fen, credits, priced_at, applied_at)
SELECT subscription_id, period_start, period_end, from_plan_code, from_plan_version, to_plan_code, to_plan_version, cycle, 0, 0, now(), now()
FROM subscription_upgrades WHERE subscription_id = $1`, b.first.ID)
	require.ErrorContains(t, err, "subscription_upgrades_from_key")
	var granted decimal.Decimal
	for _, l := range b.planLots(t) {
		granted = granted.Add(l.Amount)
	}
	require.True(t, granted.Equal(dec("20000").Add(ups[0].Credits)), "one upgrade's difference granted")
}

// TestUpgradeFeePeriod: the revenue report recognises an upgrade order's
// fee over the rest of the period it paid for.
func TestUpgradeFeePeriod(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	at := b.left(12)
	c, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)
	_, err = b.pay(t, c, "FEE")
	require.NoError(t, err)
	no := fmt.Sprintf("FEE-%d", b.first.ID)
	ps, err := b.subs.FeePeriods(ctx, []string{no})
	require.NoError(t, err)
	require.Equal(t, Period{Start: at, End: b.first.TermEnd}, ps[no])
}

// TestStaleUpgradeOrdersAreSuperseded: an upgrade priced before the
// subscription changed does not apply: not after a cancel, not once the
// next period is paid, not in another period.
func TestStaleUpgradeOrdersAreSuperseded(t *testing.T) {
	ctx := context.Background()
	b := setupChange(t)
	b.left(5)
	c, err := b.subs.ChangePlan(ctx, ChangeRequest{AccountID: b.account, PlanCode: b.mid.Code, Cycle: Monthly, Actor: "test"})
	require.NoError(t, err)

	_, err = b.subs.Cancel(ctx, b.account, "test")
	require.NoError(t, err)
	_, err = b.pay(t, c, "STALE-1")
	require.ErrorIs(t, err, ErrUpgradeSuperseded, "canceled since")
	_, err = b.subs.Resume(ctx, b.account, "test")
	require.NoError(t, err)

	_, err = b.payRenewal(t, fmt.Sprintf("REN-%d", b.first.ID))
	require.NoError(t, err)
	_, err = b.pay(t, c, "STALE-2")
	require.ErrorIs(t, err, ErrUpgradeSuperseded, "the next period was paid as the old plan")

	b.run(t, b.first.TermEnd.Add(time.Hour))
	_, err = b.pay(t, c, "STALE-3")
	require.ErrorIs(t, err, ErrUpgradeSuperseded, "another period")
	require.Equal(t, b.low.Code, b.sub_(t).PlanCode)
	ups, err := b.subs.Upgrades(ctx, b.first.ID)
	require.NoError(t, err)
	require.Empty(t, ups)
}
