package web_test

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestPlanRenewForm: Renew now without a renewal due says so (422); with
// one due it makes a renewal order through the checkout pages — a bank
// transfer order naming the plan, or the phone hand-off — for the
// renewal's price, recording the subscription and the period it pays.
func TestPlanRenewForm(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	demoPlans(t, b.app)
	ctx := context.Background()
	subs := b.app.Services.Subscriptions

	t.Run("NothingDue", func(t *testing.T) {
		c, _ := b.customer(t, uniqEmail("renew-none"), true)
		p := c.PostForm("/portal/plans/renew", url.Values{"channel": {"wechat"}, "mode": {"qr"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		require.Equal(t, "当前没有需要支付的续费。", p.TestID("plan-buy-error"))
	})

	// due subscribes the account to Standard monthly with its term ending
	// within the lead days and makes its renewal order.
	due := func(t *testing.T, acc int64) plans.Subscription {
		t.Helper()
		sub, _, err := subs.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: "standard", Cycle: plans.Monthly,
			Anchor: time.Now().UTC().AddDate(0, 0, -27), Actor: "test"})
		require.NoError(t, err)
		_, err = subs.RenewalOffer(ctx, acc) // what the job does for it
		require.NoError(t, err)
		return sub
	}

	t.Run("BankTransfer", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("renew-transfer"), true)
		sub := due(t, acc)
		p := c.Get("/portal/plans")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("plan-renewal-price"), "¥99.00", "the renewal order is on the plan page")
		require.Contains(t, p.TestID("plan-renewal-plan"), "标准版")
		p = c.PostForm("/portal/plans/renew", url.Values{"channel": {"bank_transfer"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("transfer-plan"), "标准版（按月）")
		o := b.order(t, path.Base(p.URL.Path))
		require.Equal(t, payments.PurposePlanRenewal, o.Purpose)
		require.Equal(t, sub.ID, o.SubscriptionID)
		require.Equal(t, sub.TermEnd, o.PeriodStart.UTC())
		require.Equal(t, int64(9900), o.AmountFen)
	})

	t.Run("PhoneHandsOffToTheApp", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("renew-phone"), true)
		due(t, acc)
		c.FollowRedirects = false
		p := c.PostForm("/portal/plans/renew", url.Values{"channel": {"alipay"}, "mode": {"phone"}})
		require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
		require.Contains(t, p.Header.Get("Location"), "/open", "the existing phone hand-off")
		orders, err := b.pay.Orders(ctx, acc, 1)
		require.NoError(t, err)
		require.Equal(t, payments.PayModePhone, orders[0].PayMode)
		require.Equal(t, payments.PurposePlanRenewal, orders[0].Purpose)
	})
}
