package backoffice_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// TestPlanRedemptionCodes: a batch may grant a plan for N days instead of
// credits; redeeming a code starts a comped, non-renewing subscription
// ending N Shanghai days later with the month's plan credits as a plan lot
// expiring then, audited; an account with a plan in force is refused
// without spending the code (nor counting against the throttle); of 16
// accounts racing for one code one gets the plan.
func TestPlanRedemptionCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{plans: true, settings: backoffice.Settings{
		RedeemMaxFailuresPerAccount: 3, RedeemMaxFailuresPerIP: 100, RedeemWindow: 15 * time.Minute}})
	finance := b.staff(t, auth.RoleFinance)
	catalogue := plans.New(b.pool, plans.Options{Now: b.clock.Now})
	spec := plans.DemoSpecs()[1] // Basic: 20,000 plan credits a month
	spec.Code = uniq("redeem-plan")
	draft, err := catalogue.CreateDraft(b.ctx, spec, "ops@example.com")
	require.NoError(t, err)
	_, err = catalogue.Publish(b.ctx, draft.ID, "ops@example.com")
	require.NoError(t, err)

	t.Run("BatchRules", func(t *testing.T) {
		_, err := b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "x", Count: 1, PlanCode: spec.Code, PlanDays: 0, Actor: finance})
		fe, ok := fielderr.As(err)
		require.True(t, ok)
		require.Equal(t, "redeem_plan_days", fe.Code("plan_days"))
		_, err = b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "x", Count: 1, PlanDays: 30, Actor: finance})
		fe, _ = fielderr.As(err)
		require.Equal(t, "redeem_plan_unknown", fe.Code("plan"))
		_, err = b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "x", Count: 1, PlanCode: spec.Code, PlanDays: 30,
			Amount: d("10"), Actor: finance})
		require.ErrorIs(t, err, backoffice.ErrInvalidBatch, "a plan code grants no credits")
	})

	g, err := b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "试用基础版", Count: 3, PlanCode: spec.Code, PlanDays: 30, Actor: finance})
	require.NoError(t, err)
	require.Equal(t, spec.Code, g.Batch.PlanCode)
	require.Equal(t, 30, g.Batch.PlanDays)
	require.Contains(t, string(g.CSV), g.Codes[0]+",试用基础版,plan "+spec.Code+" × 30 days")

	a := b.customer(t)
	now := b.clock.Now()
	r, err := b.svc.Redeem(b.ctx, a.account.ID, g.Codes[0], "192.0.2.50")
	require.NoError(t, err)
	require.NotNil(t, r.Subscription)
	sub := *r.Subscription
	require.Equal(t, spec.Code, sub.PlanCode)
	require.Equal(t, plans.Canceled, sub.State, "no renewal")
	require.Equal(t, now.In(format.Shanghai).AddDate(0, 0, 30).UTC(), sub.TermEnd.UTC())
	lots, err := b.l.Lots(b.ctx, a.account.ID)
	require.NoError(t, err)
	require.Len(t, lots, 1)
	require.Equal(t, ledger.LotPlan, lots[0].Kind)
	require.True(t, lots[0].Amount.Equal(d("20000")))
	require.Equal(t, sub.TermEnd.UTC(), lots[0].ExpiresAt.UTC(), "the plan credits end with the term")
	var action string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT action FROM admin_audit_log WHERE account_id = $1 AND detail->>'plan' = $2`,
		a.account.ID, spec.Code).Scan(&action))
	require.Equal(t, string(backoffice.ActionCodeRedeemed), action)

	// A second code on the same account: refused, the code stays usable.
	for range 5 { // more than the throttle allows: not counted
		_, err = b.svc.Redeem(b.ctx, a.account.ID, g.Codes[1], "192.0.2.50")
		require.ErrorIs(t, err, backoffice.ErrRedeemPlanInForce)
	}
	other := b.customer(t)
	_, err = b.svc.Redeem(b.ctx, other.account.ID, g.Codes[1], "192.0.2.51")
	require.NoError(t, err, "the refused code was not spent")

	// Sixteen accounts race for the last code: one plan.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, used := 0, 0
	for range 16 {
		c := b.customer(t)
		wg.Go(func() {
			_, err := b.svc.Redeem(b.ctx, c.account.ID, g.Codes[2], "192.0.2.52")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, backoffice.ErrCodeUsed):
				used++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, won)
	require.Equal(t, 15, used)
	var subs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM redemption_codes WHERE batch_id = $1 AND subscription_id IS NOT NULL`,
		g.Batch.ID).Scan(&subs))
	require.Equal(t, 3, subs)
}
