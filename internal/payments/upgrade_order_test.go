package payments_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestUpgradeOrdersRace: two upgrade orders of one subscription, both
// priced from Basic (to Standard and to Professional), each reported paid
// by 32 notifies at once (64 in all): one order upgrades, once, with its
// plan-credit difference; the other goes to review (upgrade_superseded);
// a renewal order opened for Basic before the upgrade is superseded too.
// A downgrade needs no order.
func TestUpgradeOrdersRace(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{plans: true})
	subs := b.subs
	require.NoError(t, demoCatalogue(b))
	acc := b.account(t)
	// A monthly Basic plan begun 25 days ago: its renewal is due.
	anchor := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -25)
	sub, _, err := subs.Subscribe(b.ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: "basic", Cycle: plans.Monthly, Anchor: anchor, Actor: "test"})
	require.NoError(t, err)
	renewal, _, err := b.svc.CreateRenewalOrder(b.ctx, acc, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, int64(2_900), renewal.AmountFen)

	var orders []payments.Order
	for _, code := range []string{"standard", "professional"} {
		o, _, err := b.svc.ChangePlan(b.ctx, acc, code, "monthly", payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
		require.NoError(t, err)
		require.Equal(t, payments.PurposePlanUpgrade, o.Purpose)
		require.Equal(t, sub.ID, o.SubscriptionID)
		require.Equal(t, "basic", o.FromPlanCode)
		require.Nil(t, o.PeriodStart)
		require.True(t, o.Credits.IsZero())
		require.Positive(t, o.AmountFen)
		orders = append(orders, o)
	}
	_, _, err = b.svc.ChangePlan(b.ctx, acc, "standard", "monthly", payments.ChannelBankTransfer, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrChannelUnavailable, "an upgrade's price holds for an instant: no bank transfer")

	results := make([][]payments.Result, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k, o := range orders {
		results[k] = make([]payments.Result, 32)
		p := payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo, ChannelTradeNo: fmt.Sprintf("42000000100%d", k),
			State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: o.AmountFen, MerchantID: b.wx.MchID, AppID: b.wx.AppID}
		for i := range results[k] {
			wg.Go(func() {
				<-start
				out, err := b.svc.ApplyChannelPayment(b.ctx, p, payments.CauseNotify)
				require.NoError(t, err)
				results[k][i] = out.Result
			})
		}
	}
	close(start)
	wg.Wait()
	var winner payments.Order
	paid, review := 0, 0
	for k, o := range orders {
		got := b.order(t, o)
		counts := map[payments.Result]int{}
		for _, r := range results[k] {
			counts[r]++
		}
		switch got.State {
		case payments.StatePaid:
			paid++
			winner = got
			require.Equal(t, 1, counts[payments.ResultCredited], "one report of the paying order upgrades")
		case payments.StateNeedsReview:
			review++
			require.Equal(t, payments.ReviewUpgradeSuperseded, got.ReviewReason)
			require.Equal(t, 1, counts[payments.ResultNeedsReview])
		default:
			t.Fatalf("order %s ended %s", got.OrderNo, got.State)
		}
		require.Equal(t, 31, counts[payments.ResultDuplicate])
	}
	require.Equal(t, 1, paid)
	require.Equal(t, 1, review)

	cur, err := subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, winner.PlanCode, cur.PlanCode, "the paid upgrade is in force")
	ups, err := subs.Upgrades(b.ctx, sub.ID)
	require.NoError(t, err)
	require.Len(t, ups, 1, "one upgrade from Basic")
	require.Equal(t, winner.OrderNo, ups[0].OrderNo)
	require.Equal(t, winner.AmountFen, ups[0].PriceFen)
	var planLots int
	for _, l := range b.lots(t, acc) {
		if l.Kind == ledger.LotPlan {
			planLots++
			require.Equal(t, sub.TermEnd, l.ExpiresAt.UTC(), "plan lots expire at the period's end")
		}
	}
	require.Equal(t, 2, planLots, "the month's grant and the upgrade's difference")
	require.Equal(t, winner.PlanCode, cur.Renewal.PlanCode, "the unpaid renewal is repriced to the new plan")

	// The renewal order opened for Basic is superseded: paid, it goes to review.
	b.confirm(t, renewal)
	got := b.order(t, renewal)
	require.Equal(t, payments.StateNeedsReview, got.State)
	require.Equal(t, payments.ReviewRenewalSettled, got.ReviewReason)
	cur, err = subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, sub.TermEnd, cur.TermEnd, "the old renewal did not renew")

	// A downgrade is scheduled without an order.
	o, _, err := b.svc.ChangePlan(b.ctx, acc, "basic", "monthly", "", payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Empty(t, o.OrderNo)
	cur, err = subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, "basic", cur.NextPlanCode)
}
