package web_test

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestPlanCheckout: a verified customer buys Basic monthly on /portal/plans
// through the QR checkout; 16 concurrent copies of the sandbox's notify
// start one subscription and grant one first-month plan lot (no top-up
// credit); the page then shows the plan in both languages and refuses a
// second purchase; a second plan order paid anyway goes to review.
func TestPlanCheckout(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	demoPlans(t, b.app)
	ctx := context.Background()

	t.Run("UnverifiedGoesToVerification", func(t *testing.T) {
		c, _ := b.customer(t, uniqEmail("plan-unverified"), false)
		c.FollowRedirects = false
		p := c.PostForm("/portal/plans/buy", url.Values{"plan": {"basic"}, "cycle": {"monthly"}, "channel": {"wechat"}, "mode": {"qr"}})
		require.Equal(t, http.StatusSeeOther, p.Status)
		require.Contains(t, p.Header.Get("Location"), "verification")
	})

	t.Run("BankTransferShowsThePlan", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("plan-transfer"), true)
		p := c.PostForm("/portal/plans/buy", url.Values{"plan": {"basic"}, "cycle": {"yearly"}, "channel": {"bank_transfer"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("transfer-plan"), "基础版（按年）")
		require.Empty(t, p.TestID("transfer-you-get"))
		o := b.order(t, path.Base(p.URL.Path))
		require.Equal(t, acc, o.AccountID)
		require.Equal(t, int64(29000), o.AmountFen, "Basic's yearly price")
		require.NotEmpty(t, o.ReferenceCode)
	})

	t.Run("PhoneHandsOffToTheApp", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("plan-phone-pay"), true)
		c.FollowRedirects = false
		p := c.PostForm("/portal/plans/buy", url.Values{"plan": {"professional"}, "cycle": {"monthly"}, "channel": {"alipay"}, "mode": {"phone"}})
		require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
		require.Contains(t, p.Header.Get("Location"), "/open", "the existing phone hand-off")
		orders, err := b.pay.Orders(ctx, acc, 1)
		require.NoError(t, err)
		require.Equal(t, payments.PayModePhone, orders[0].PayMode)
		require.Equal(t, payments.PurposePlan, orders[0].Purpose)
		require.Equal(t, int64(29900), orders[0].AmountFen, "Professional's monthly price")
	})

	c, acc := b.customer(t, uniqEmail("plan-buyer"), true)
	p := c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="plan-buy-basic"]`).Length(), "Basic can be bought")
	require.Zero(t, p.Doc.Find(`[data-testid="plan-buy-free"]`).Length(), "Free is not sold")
	require.Contains(t, p.TestID("plan-buy-submit-basic"), "购买套餐")

	nc := b.captureNotifies(t)
	p = c.PostForm("/portal/plans/buy", url.Values{"plan": {"basic"}, "cycle": {"monthly"}, "channel": {"wechat"}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := path.Base(p.URL.Path)
	o := b.order(t, no)
	require.Equal(t, acc, o.AccountID)
	require.Equal(t, payments.PurposePlan, o.Purpose)
	require.Equal(t, "basic", o.PlanCode)
	require.Equal(t, "monthly", o.PlanCycle)
	require.Equal(t, int64(2900), o.AmountFen, "Basic's monthly price")
	require.NotEmpty(t, o.QRCode, "the existing QR checkout")

	// A second order made before the first is paid (both were allowed then).
	b.notifyTo(b.app.URL)
	o2, _, err := b.pay.CreatePlanOrder(ctx, acc, "standard", "yearly", payments.ChannelAlipay, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, int64(99000), o2.AmountFen, "Standard's yearly price")

	d, err := b.sim.Confirm(ctx, string(payments.ChannelWeChat), no)
	require.NoError(t, err)
	require.False(t, d.Acked)
	n := nc.get(t, payments.NotifyPathWeChat)
	statuses, _ := b.concurrently(t, 16, payments.NotifyPathWeChat, n)
	for i, s := range statuses {
		require.Equal(t, http.StatusNoContent, s, "copy %d is acknowledged", i)
	}
	status, _ := b.post(t, payments.NotifyPathWeChat, n.Header, n.Body)
	require.Equal(t, http.StatusNoContent, status, "a later replay is acknowledged")

	require.Equal(t, payments.StatePaid, b.order(t, no).State)
	// Its receipt names the plan bought, not credits.
	r := c.Get("/portal/orders/" + no + "/receipt.pdf")
	require.Equal(t, http.StatusOK, r.Status)
	receipt := pdfToText(t, []byte(r.Body))
	require.Contains(t, receipt, "套餐 basic 月付")
	require.NotContains(t, receipt, "到账点数")
	cur, err := b.app.Services.Subscriptions.Current(ctx, acc)
	require.NoError(t, err)
	require.Equal(t, "basic", cur.PlanCode)
	require.Equal(t, plans.Monthly, cur.Cycle)
	require.Equal(t, plans.Active, cur.State)
	grants, err := b.app.Services.Subscriptions.Grants(ctx, cur.ID)
	require.NoError(t, err)
	require.Len(t, grants, 1, "one first-month grant")
	lots := planLots(t, b.ledger, acc)
	require.Len(t, lots, 1, "one plan lot")
	requireCredits(t, "20000", lots[0].Amount, "the month's plan credits")
	require.Equal(t, cur.Grant.PeriodEnd, lots[0].ExpiresAt.UTC())
	bal := b.balance(t, acc)
	require.True(t, bal.ByKind[ledger.LotPaid].IsZero(), "a plan order credits no top-up")
	b.verifyLedger(t)

	// The second order is paid too, by now with a plan in force: to review.
	d, err = b.sim.Confirm(ctx, string(payments.ChannelAlipay), o2.OrderNo)
	require.NoError(t, err)
	require.True(t, d.Acked)
	o2 = b.order(t, o2.OrderNo)
	require.Equal(t, payments.StateNeedsReview, o2.State)
	require.Equal(t, payments.ReviewPlanInForce, o2.ReviewReason)
	require.Len(t, planLots(t, b.ledger, acc), 1, "still one plan lot")

	p = c.Get("/portal/orders/" + no)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.TestID("checkout-plan-active"), "套餐已开通")
	require.Empty(t, p.TestID("checkout-credits"), "no top-up credit to announce")

	p = c.Get("/portal/plans")
	require.Equal(t, "基础版", p.TestID("current-plan-name"))
	require.NotEmpty(t, p.TestID("plan-in-force"))
	require.Zero(t, p.Doc.Find(`form.plan-buy`).Length(), "no buy forms with a plan in force")
	p = c.PostForm("/portal/plans/buy", url.Values{"plan": {"standard"}, "cycle": {"monthly"}, "channel": {"wechat"}, "mode": {"qr"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("plan-buy-error"), "已有生效中的套餐")

	c.Get("/lang/en")
	p = c.Get("/portal/plans")
	require.Equal(t, "Basic", p.TestID("current-plan-name"))
	require.Contains(t, p.TestID("plan-in-force"), "Change plan")
	p = c.PostForm("/portal/plans/buy", url.Values{"plan": {"standard"}, "cycle": {"yearly"}, "channel": {"alipay"}, "mode": {"qr"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("plan-buy-error"), "already have a plan in force")
	orders, err := b.pay.Orders(ctx, acc, 10)
	require.NoError(t, err)
	require.Len(t, orders, 2, "refused purchases make no order")
	p = c.Get("/portal/orders")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Doc.Find(`[data-order="`+no+`"] [data-testid="order-plan"]`).Text(), "Basic (Monthly)")
	require.Contains(t, p.Doc.Find(`[data-order="`+o2.OrderNo+`"] [data-testid="order-plan"]`).Text(), "Standard (Yearly)")
}
