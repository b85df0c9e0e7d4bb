package payments_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestRenewalPaymentsRace: a period is never charged twice. Two renewal
// orders for one period, each reported paid 50 times at once (100
// concurrent notifies): one order renews the period, once; the other goes
// to review (renewal_settled) to be refunded, and the subscription moves
// on by exactly one period.
func TestRenewalPaymentsRace(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{plans: true})
	subs := b.subs
	require.NoError(t, demoCatalogue(b))
	acc := b.account(t)

	_, _, err := b.svc.CreateRenewalOrder(b.ctx, acc, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrNoRenewalDue, "no plan, no renewal")
	// A monthly plan started 26 days ago: its term ends within the 7 days'
	// lead, so its renewal is due.
	anchor := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -26)
	sub, _, err := subs.Subscribe(b.ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: "basic", Cycle: plans.Monthly, Anchor: anchor, Actor: "test"})
	require.NoError(t, err)

	var orders []payments.Order
	for range 2 {
		o, _, err := b.svc.CreateRenewalOrder(b.ctx, acc, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
		require.NoError(t, err)
		require.Equal(t, payments.PurposePlanRenewal, o.Purpose)
		require.Equal(t, sub.ID, o.SubscriptionID)
		require.Equal(t, sub.TermEnd, o.PeriodStart.UTC())
		require.Equal(t, int64(2900), o.AmountFen)
		require.True(t, o.Credits.IsZero())
		orders = append(orders, o)
	}

	results := make([][]payments.Result, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k, o := range orders {
		results[k] = make([]payments.Result, 50)
		p := payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo, ChannelTradeNo: fmt.Sprintf("42000000000%d", k),
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

	paid, review := 0, 0
	var loser string
	for k, o := range orders {
		got := b.order(t, o)
		counts := map[payments.Result]int{}
		for _, r := range results[k] {
			counts[r]++
		}
		switch got.State {
		case payments.StatePaid:
			paid++
			require.Equal(t, 1, counts[payments.ResultCredited], "one report of the paying order renews")
			require.Equal(t, 49, counts[payments.ResultDuplicate])
		case payments.StateNeedsReview:
			review++
			loser = got.OrderNo
			require.Equal(t, payments.ReviewRenewalSettled, got.ReviewReason)
			require.Equal(t, 1, counts[payments.ResultNeedsReview], "the other order goes to review once")
			require.Equal(t, 49, counts[payments.ResultDuplicate])
		default:
			t.Fatalf("order %s ended %s", got.OrderNo, got.State)
		}
	}
	require.Equal(t, 1, paid, "one order pays the period")
	require.Equal(t, 1, review, "the other is refunded after review")

	cur, err := subs.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, sub.NextPeriod(plans.Monthly).End, cur.TermEnd, "the term moved on by one period")
	evs, err := subs.Events(b.ctx, sub.ID)
	require.NoError(t, err)
	renewed := 0
	for _, e := range evs {
		if e.Kind == plans.EventRenewed {
			renewed++
		}
	}
	require.Equal(t, 1, renewed, "one renewal")
	var paidOrders int
	err = b.pool.QueryRow(b.ctx, `SELECT count(*) FROM payment_orders WHERE subscription_id = $1 AND paid_at IS NOT NULL`, sub.ID).Scan(&paidOrders)
	require.NoError(t, err)
	require.Equal(t, 1, paidOrders)
	// The database refuses a second paid order for the period outright.
	_, err = b.pool.Exec(b.ctx, `UPDATE payment_orders SET paid_at = now() WHERE order_no = $1`, loser)
	require.ErrorContains(t, err, "payment_orders_renewal_paid_key")

	_, _, err = b.svc.CreateRenewalOrder(b.ctx, acc, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.ErrorIs(t, err, payments.ErrNoRenewalDue, "the next period is not due yet")
	b.verifyClean(t)
}
