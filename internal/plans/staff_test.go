package plans

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// TestExtend: extending a monthly plan by 5 days moves its period end and
// term end 5 days later, grants the added days' share of the monthly plan
// credits as a lot expiring at the new end (recorded as the moved month's
// grant, so the grant job grants nothing more until then), and records an
// extended event; the next period is a whole month again.
func TestExtend(t *testing.T) {
	ctx := context.Background()
	anchor := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	b := setupSubs(t, anchor)
	sub, _, err := b.subs.Subscribe(ctx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code, Cycle: Monthly, Actor: "payments:wechat", Note: "P1"})
	require.NoError(t, err)
	b.clock.Set(anchor.Add(10 * 24 * time.Hour))
	extend := func(days int) (Extended, error) {
		var out Extended
		err := db.InTx(ctx, b.subs.pool, func(tx pgx.Tx) error {
			var err error
			out, err = b.subs.ExtendTx(ctx, tx, ExtendRequest{AccountID: b.account, Days: days, Actor: "staff:1", Note: "outage"})
			return err
		})
		return out, err
	}
	_, err = extend(0)
	require.ErrorIs(t, err, ErrInvalidDays)
	got, err := extend(5)
	require.NoError(t, err)
	require.Equal(t, sub.TermEnd.Add(5*24*time.Hour), got.Subscription.TermEnd)
	// 20,000 × 5 days ÷ 31 days (10 Mar → 10 Apr) = 3,225.806452.
	require.Equal(t, "3225.806452", got.Credits.StringFixed(6))
	cur, err := b.subs.Current(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 4, 15, 2, 0, 0, 0, time.UTC), cur.Period.End, "the current period ends 5 days later")
	lots := b.planLots(t)
	require.Len(t, lots, 2)
	require.Equal(t, cur.Period.End, lots[1].ExpiresAt.UTC())

	n, err := b.subs.GrantDue(ctx, time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Zero(t, n, "the added days are granted: no second month")
	es, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	var ext *Event
	for i := range es {
		if es[i].Kind == EventExtended {
			ext = &es[i]
		}
	}
	require.NotNil(t, ext)
	require.Equal(t, "5 days: outage", ext.Note)
	require.Equal(t, got.Subscription.TermEnd, ext.TermEnd)
	next := got.Subscription.NextPeriod(Monthly)
	require.Equal(t, time.Date(2026, 5, 15, 2, 0, 0, 0, time.UTC), next.End, "the next period is a whole month")
}

// TestGrantAndSubscribers: staff grant an enterprise a plan for a contract
// term (granted event, first month's credits, no renewal); the subscriber
// list filters by plan, state, cycle, renewal due and account, a page at a
// time.
func TestGrantAndSubscribers(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	b := setupSubs(t, now)
	var sub Subscription
	var g Grant
	err := db.InTx(ctx, b.subs.pool, func(tx pgx.Tx) error {
		var err error
		sub, g, err = b.subs.GrantTx(ctx, tx, GrantRequest{AccountID: b.account, PlanCode: b.plan.Code, Months: 12, Actor: "staff:1", Note: "contract 2026-001"})
		return err
	})
	require.NoError(t, err)
	require.Equal(t, Canceled, sub.State, "a contract term does not renew")
	require.True(t, g.Credits.Equal(decimal.NewFromInt(20_000)))
	es, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, EventGranted, es[0].Kind)

	page, err := b.subs.Subscribers(ctx, SubscriberFilter{PlanCode: b.plan.Code})
	require.NoError(t, err)
	require.Len(t, page.Rows, 1)
	require.Equal(t, "subscriber", page.Rows[0].AccountName)
	for _, f := range []SubscriberFilter{
		{PlanCode: b.plan.Code, State: Active},
		{PlanCode: b.plan.Code, Cycle: Yearly},
		{PlanCode: b.plan.Code, RenewsWithinDays: 7},
		{PlanCode: b.plan.Code, Query: "nobody"},
	} {
		page, err := b.subs.Subscribers(ctx, f)
		require.NoError(t, err)
		require.Empty(t, page.Rows, "%+v", f)
	}
	page, err = b.subs.Subscribers(ctx, SubscriberFilter{PlanCode: b.plan.Code, State: Canceled, Cycle: Monthly, Query: "subSCRIBer"})
	require.NoError(t, err)
	require.Len(t, page.Rows, 1)

	// Paging: a second account's subscription, one a page.
	acc2, err := b.ledger.CreateAccount(ctx, ledgerSpec("second"))
	require.NoError(t, err)
	_, _, err = b.subs.Subscribe(ctx, SubscribeRequest{AccountID: acc2.ID, PlanCode: b.plan.Code, Cycle: Yearly, Actor: "test"})
	require.NoError(t, err)
	p1, err := b.subs.Subscribers(ctx, SubscriberFilter{PlanCode: b.plan.Code, Limit: 1})
	require.NoError(t, err)
	require.Len(t, p1.Rows, 1)
	require.NotZero(t, p1.Next)
	p2, err := b.subs.Subscribers(ctx, SubscriberFilter{PlanCode: b.plan.Code, Limit: 1, After: p1.Next})
	require.NoError(t, err)
	require.Len(t, p2.Rows, 1)
	require.Zero(t, p2.Next)
	require.NotEqual(t, p1.Rows[0].ID, p2.Rows[0].ID)
}

func ledgerSpec(name string) ledger.AccountSpec {
	return ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: name}
}
