package plans

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestOfferAndSubscribeTx: a paid plan order's path. Offer prices the
// latest version per cycle and refuses an account with a plan in force;
// SubscribeTx keeps the version the order was priced from (a newer one was
// published since) and grants the first month; after the term ends, a
// subscription the grant job has not expired yet does not block the next.
func TestOfferAndSubscribeTx(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 31, 4, 0, 0, 0, time.UTC)
	b := setupSubs(t, start)
	pool := dbtest.AppPool(t)

	p, fen, err := b.subs.Offer(ctx, b.account, b.plan.Code, Yearly)
	require.NoError(t, err)
	require.Equal(t, b.plan.YearlyPriceFen, fen)
	_, fen, err = b.subs.Offer(ctx, b.account, b.plan.Code, Monthly)
	require.NoError(t, err)
	require.Equal(t, b.plan.MonthlyPriceFen, fen)
	require.Equal(t, b.plan.Version, p.Version)
	_, _, err = b.subs.Offer(ctx, b.account, b.plan.Code, "weekly")
	require.ErrorIs(t, err, ErrInvalidTerm)
	_, _, err = b.subs.Offer(ctx, b.account, "no-such-plan", Monthly)
	require.ErrorIs(t, err, ErrNotFound)

	d, err := b.plans.OpenDraft(ctx, b.plan.Code, "ops@example.com")
	require.NoError(t, err)
	spec := d.Spec
	spec.MonthlyPriceFen++
	d, err = b.plans.SaveDraft(ctx, d.ID, d.Revision, spec, "ops@example.com")
	require.NoError(t, err)
	v2, err := b.plans.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, b.plan.Version+1, v2.Version)

	subscribe := func() (Subscription, Grant, error) {
		var sub Subscription
		var g Grant
		err := db.InTx(ctx, pool, func(tx pgx.Tx) error {
			var err error
			sub, g, err = b.subs.SubscribeTx(ctx, tx, SubscribeRequest{AccountID: b.account, PlanCode: b.plan.Code,
				PlanVersion: b.plan.Version, Cycle: Monthly, Actor: "payments", Note: "T1"})
			return err
		})
		return sub, g, err
	}
	sub, g, err := subscribe()
	require.NoError(t, err)
	require.Equal(t, b.plan.Version, sub.PlanVersion, "the version the order was priced from")
	require.NotZero(t, g.LotID)
	require.Len(t, b.planLots(t), 1)
	evs, err := b.subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, "T1", evs[0].Note)

	_, _, err = b.subs.Offer(ctx, b.account, b.plan.Code, Monthly)
	require.ErrorIs(t, err, ErrAlreadySubscribed)
	_, _, err = subscribe()
	require.ErrorIs(t, err, ErrAlreadySubscribed)

	b.clock.Set(sub.TermEnd.Add(time.Hour)) // the grant job has not run
	_, _, err = b.subs.Offer(ctx, b.account, b.plan.Code, Monthly)
	require.NoError(t, err, "a term that ended is no plan in force")
	sub2, _, err := subscribe()
	require.NoError(t, err)
	require.NotEqual(t, sub.ID, sub2.ID)
	require.Len(t, b.planLots(t), 2)
}
