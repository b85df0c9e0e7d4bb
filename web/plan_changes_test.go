package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/pricing"
)

// TestPlanChangeForms: on /portal/plans a subscriber previews an upgrade
// (price and credits), which becomes a plan_upgrade order at the checkout;
// previews and schedules a downgrade, withdraws it; cancels and resumes;
// and reads the history newest first, in both languages. A refused change
// says why in the user's language; a past-due plan refuses every change.
func TestPlanChangeForms(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	demoPlans(t, b.app)
	ctx := context.Background()
	// The back office's customer page prices with the card in force: one
	// is published here, not left to whichever test ran first.
	_, err := b.app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	subs := b.app.Services.Subscriptions
	// Standard monthly, begun 10 days ago.
	subscribe := func(t *testing.T, acc int64, code string, daysAgo int) plans.Subscription {
		t.Helper()
		sub, _, err := subs.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: code, Cycle: plans.Monthly,
			Anchor: time.Now().UTC().AddDate(0, 0, -daysAgo), Actor: "test"})
		require.NoError(t, err)
		return sub
	}

	t.Run("UpgradePreviewAndOrder", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("change-up"), true)
		sub := subscribe(t, acc, "standard", 10)
		p := c.Get("/portal/plans")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		opts := p.Doc.Find(`[data-testid="plan-change-select"] option`)
		require.Positive(t, opts.Length())
		values := opts.Map(func(_ int, s *goquery.Selection) string { v, _ := s.Attr("value"); return v })
		require.Contains(t, values, "professional:monthly")
		require.Contains(t, values, "basic:monthly")
		require.Contains(t, values, "standard:yearly", "a cycle change, scheduled")
		require.NotContains(t, values, "standard:monthly", "not the plan in force")
		require.NotContains(t, values, "professional:yearly", "an upgrade keeps the cycle")

		p = c.Get("/portal/plans?change=professional:monthly")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		want, err := plans.UpgradePrice(9_900, 29_900, sub.Anchor, sub.TermEnd, time.Now())
		require.NoError(t, err)
		price := p.TestID("plan-change-price")
		require.Contains(t, []string{fen(want), fen(want - 1)}, price[len("¥"):], "the prorated price, to the fen (a second may pass)")
		require.NotEmpty(t, p.TestID("plan-change-credits"))
		require.Equal(t, "支付并升级", p.TestID("plan-change-confirm"))

		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"professional"}, "cycle": {"monthly"}, "channel": {"wechat"}, "mode": {"qr"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, 1, p.Doc.Find(`[data-testid="checkout-qr"]`).Length(), "the upgrade is paid at the checkout")
		require.Contains(t, p.TestID("checkout-amount"), price[len("¥"):])
		orders, err := b.pay.Orders(ctx, acc, 5)
		require.NoError(t, err)
		require.Equal(t, payments.PurposePlanUpgrade, orders[0].Purpose)
		require.Equal(t, "standard", orders[0].FromPlanCode)
		require.Equal(t, "professional", orders[0].PlanCode)
		cur, err := subs.Current(ctx, acc)
		require.NoError(t, err)
		require.Equal(t, "standard", cur.PlanCode, "nothing changes before the payment")

		d, err := b.sim.Confirm(ctx, string(payments.ChannelWeChat), orders[0].OrderNo)
		require.NoError(t, err)
		require.True(t, d.Acked)
		p = c.Get("/portal/orders/" + orders[0].OrderNo)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "升级已生效，补发的套餐额度已到账。", p.TestID("checkout-plan-active"))
		cur, err = subs.Current(ctx, acc)
		require.NoError(t, err)
		require.Equal(t, "professional", cur.PlanCode, "paid: the upgrade applies at once")
		p = c.Get("/portal/orders")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.Body, "升级到 专业版（按月）")
	})

	t.Run("UpgradeOnAPhoneHandsOffToTheApp", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("change-phone"), true)
		subscribe(t, acc, "basic", 5)
		c.FollowRedirects = false
		p := c.PostForm("/portal/plans/change", url.Values{"plan": {"standard"}, "cycle": {"monthly"}, "channel": {"alipay"}, "mode": {"phone"}})
		require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
		require.Contains(t, p.Header.Get("Location"), "/open", "the existing H5/WAP hand-off")
		orders, err := b.pay.Orders(ctx, acc, 1)
		require.NoError(t, err)
		require.Equal(t, payments.PayModePhone, orders[0].PayMode)
		require.Equal(t, payments.PurposePlanUpgrade, orders[0].Purpose)
		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"standard"}, "cycle": {"monthly"}, "channel": {"bank_transfer"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		require.Equal(t, "该支付方式暂不可用，请换一种支付方式。", p.TestID("plan-change-error"))
	})

	t.Run("DowngradeWithdrawCancelResume", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("change-down"), true)
		subscribe(t, acc, "standard", 3)
		p := c.Get("/portal/plans?change=basic:monthly")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("plan-change-when"), "本周期结束时生效")
		require.Equal(t, "确认变更", p.TestID("plan-change-confirm"))
		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"basic"}, "cycle": {"monthly"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("plan-change-scheduled"), "基础版")
		require.Equal(t, "标准版", p.TestID("current-plan-name"), "the plan in force stays")

		p = c.PostForm("/portal/plans/withdraw", nil)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Empty(t, p.TestID("plan-change-scheduled"))
		require.Equal(t, "已撤销安排的变更。", p.TestID("plan-change-done"))
		p = c.PostForm("/portal/plans/withdraw", nil)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, "当前没有已安排的变更。", p.TestID("plan-change-error"))

		ep, _, err := b.app.Services.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.example.com/credits")
		require.NoError(t, err)
		p = c.PostForm("/portal/plans/cancel", nil)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.NotEmpty(t, p.TestID("plan-canceled-note"))
		var hooks int
		require.NoError(t, b.app.Services.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_deliver'
AND args->>'event_type' = $1 AND (args->>'endpoint_id')::bigint = $2`, plans.WebhookCanceled, ep.ID).Scan(&hooks))
		require.Equal(t, 1, hooks, "subscription.canceled is sent")
		require.NotEmpty(t, p.TestID("plan-resume"))
		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"basic"}, "cycle": {"monthly"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("plan-change-error"), "请先恢复续费")
		p = c.PostForm("/portal/plans/resume", nil)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.NotEmpty(t, p.TestID("plan-cancel"))

		c.Get("/lang/en")
		p = c.Get("/portal/plans")
		rows := p.Doc.Find(`[data-testid="subscription-history"] tbody tr`)
		var kinds []string
		rows.Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("data-testid"); kinds = append(kinds, v) })
		require.Equal(t, []string{"subscription-event-resumed", "subscription-event-canceled", "subscription-event-change_withdrawn",
			"subscription-event-downgrade_scheduled", "subscription-event-created"}, kinds, "newest first")
		require.Contains(t, rows.Eq(3).Text(), "Downgrade scheduled")
		require.Contains(t, rows.Eq(3).Text(), "Standard → Basic (Monthly)")
		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"professional"}, "cycle": {"yearly"}, "channel": {"wechat"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, "An upgrade keeps your billing cycle: upgrade first, then change the cycle.", p.TestID("plan-change-error"))

		admin := (&adminBundle{portalBundle: b.portalBundle}).staff(t, "change-admin", auth.RoleAdmin)
		p = admin.Get("/admin/customers/" + strconv.FormatInt(acc, 10))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, 5, p.Doc.Find(`[data-testid="customer-sub-history"] tbody tr`).Length(), "the back office shows the history")
		require.Equal(t, 1, p.Doc.Find(`[data-testid="sub-event-downgrade_scheduled"]`).Length())
	})

	t.Run("PastDueRefuses", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("change-pastdue"), true)
		sub := subscribe(t, acc, "standard", 31)
		_, err := b.app.Services.Pool.Exec(ctx, `UPDATE subscriptions SET state = 'past_due', grace_until = $2 WHERE id = $1`,
			sub.ID, time.Now().Add(48*time.Hour))
		require.NoError(t, err)
		p := c.Get("/portal/plans")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("plan-change-error"), "请先支付续费")
		require.Zero(t, p.Doc.Find(`[data-testid="plan-change-select"]`).Length())
		p = c.PostForm("/portal/plans/change", url.Values{"plan": {"professional"}, "cycle": {"monthly"}, "channel": {"wechat"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("plan-change-error"), "逾期未续费")
		p = c.PostForm("/portal/plans/cancel", nil)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	})
}

// fen is an amount in fen as the pages show it, without the sign: 123.45.
func fen(n int64) string { return strconv.FormatInt(n/100, 10) + "." + fmt.Sprintf("%02d", n%100) }
