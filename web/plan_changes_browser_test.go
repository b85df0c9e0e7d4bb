package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPlanChangesInChromium is the journey at 390 px: a customer the
// platform created through the API (verified there) opens the portal from a
// portal-session link and subscribes to Basic by QR; the overview's quota
// bars move as the API is called (quota pays); halfway through the month preview the upgrade to Standard
// (price and credits, in Chinese and English) and pay it by QR; schedule a
// downgrade back to Basic and see it waiting, with the history; move the
// clock past the period's end (renewal paid by QR) and see Basic applied.
// The back office's customer page shows the same history in both languages.
func TestPlanChangesInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase(), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now })}, nil)
	ctx := context.Background()
	_, err := b.app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	_, err = b.app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	subs := b.app.Services.Subscriptions
	_, liveKey, err := b.app.Services.Gateway.Keys.Create(ctx, ledger.ModeLive, "journey")
	require.NoError(t, err)
	api := newAPIClient(t, b.app.URL, liveKey)
	ext := uniq(t, "journey")
	r := api.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": verified})
	require.Contains(t, []int{200, 201}, r.Status, string(r.Body))
	acct, err := b.app.Services.Ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	acc := acct.ID
	day := func(t time.Time) string { return t.In(format.Shanghai).Format("2006-01-02") }
	_, _, err = b.app.Services.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.example.com/credits")
	require.NoError(t, err)

	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fits := func(what string) {
		t.Helper()
		webtest.RequireFitsWidth(t, bctx, 390, "%s", what)
		off, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](offViewportJS))
		require.NoError(t, err)
		require.Empty(t, off, "%s: elements leave a 390 px screen", what)
		page, err := chromedp.Run(bctx, chromedp.Text(css("main")))
		require.NoError(t, err)
		require.NotContains(t, page, "plans.", "%s: no raw keys", what)
	}
	orderNo := func() string {
		t.Helper()
		loc, err := chromedp.Run(bctx, chromedp.Location())
		require.NoError(t, err)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		return path.Base(u.Path)
	}
	pay := func(what string) payments.Order {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`))), what)
		no := orderNo()
		d, err := b.sim.Confirm(ctx, string(payments.ChannelAlipay), no)
		require.NoError(t, err)
		require.True(t, d.Acked, "%s: the notify is acknowledged", what)
		o := b.order(t, no)
		require.Equal(t, payments.StatePaid, o.State, what)
		return o
	}
	choose := func(value string) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-change-select"]`)),
			chromedp.SetValue(css(`[data-testid="plan-change-select"]`), value),
			chromedp.Click(css(`[data-testid="plan-change-preview-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="plan-change-preview"]`)),
		))
	}
	link := api.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(link.JSON(t)["url"].(string)), chromedp.WaitVisible(css(`[data-testid="signout"]`))))

	// Subscribe to Basic monthly by QR.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/zh-CN"), chromedp.Navigate(b.app.URL+"/portal/plans"),
		chromedp.WaitVisible(css(`[data-testid="plan-buy-submit-basic"]`)),
		chromedp.Click(css(`[data-testid="plan-channel-alipay-basic"]`)),
		chromedp.Click(css(`[data-testid="plan-buy-submit-basic"]`)),
	))
	o := pay("the plan order")
	require.Equal(t, payments.PurposePlan, o.Purpose)
	cur, err := subs.Current(ctx, acc)
	require.NoError(t, err)
	sub := cur.Subscription
	require.Equal(t, "basic", sub.PlanCode)

	// The overview's quota bars move as the API is called: Basic's quota
	// pays for deepseek-chat, so the calls cost no credits.
	used := `[data-testid="quota-deepseek-chat-requests-rolling-used"]`
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal"), chromedp.WaitVisible(css(used))))
	require.Equal(t, "0", webtest.Text(t, bctx, used))
	for i := range 2 {
		rsv := api.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
			"max_input_tokens": 100, "max_output_tokens": 100, "idempotency_key": fmt.Sprint("journey-", i)})
		require.Equal(t, http.StatusCreated, rsv.Status, string(rsv.Body))
		paid := rsv.JSON(t)["paid_by"].(map[string]any)
		require.NotNil(t, paid["quota"], "Basic's quota pays")
		c := api.do(http.MethodPost, "/v1/reservations/"+rsv.JSON(t)["id"].(string)+"/commit",
			map[string]any{"input_tokens": 50, "output_tokens": 70})
		require.Equal(t, http.StatusOK, c.Status, string(c.Body))
		require.NoError(t, chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(css(used))))
		require.Equal(t, fmt.Sprint(i+1), webtest.Text(t, bctx, used), "the bar moves with each call")
	}
	fits("the overview with the plan's quota bars (zh-CN)")

	// Halfway through the month: the upgrade's preview in both languages.
	clock.Advance(sub.TermEnd.Sub(clock.Now()) / 2)
	want, err := plans.UpgradePrice(2_900, 9_900, sub.Anchor, sub.TermEnd, clock.Now())
	require.NoError(t, err)
	for _, lang := range []struct{ code, pay, credits string }{{"zh-CN", "支付并升级", "到期"}, {"en", "Pay and upgrade", "expire"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code)))
		choose("standard:monthly")
		require.Equal(t, lang.pay, webtest.Text(t, bctx, `[data-testid="plan-change-confirm"]`))
		price := webtest.Text(t, bctx, `[data-testid="plan-change-price"]`)
		require.Contains(t, []string{"¥" + fen(want), "¥" + fen(want-1)}, price, "(99 − 29) × the half left, to the fen")
		credits := webtest.Text(t, bctx, `[data-testid="plan-change-credits"]`)
		require.Contains(t, credits, lang.credits)
		require.Contains(t, credits, day(sub.TermEnd), "the credits expire at the period's end")
		fits("the upgrade preview (" + lang.code + ")")
		webtest.Screenshot(t, bctx, "portal-plan-upgrade-preview-390-"+lang.code)
	}
	// Pay the upgrade by QR (Alipay): Standard at once.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(`[data-testid="plan-change-channel-alipay"]`)),
		chromedp.Click(css(`[data-testid="plan-change-confirm"]`)),
	))
	o = pay("the upgrade order")
	require.Equal(t, payments.PurposePlanUpgrade, o.Purpose)
	require.Contains(t, []int64{want, want - 1}, o.AmountFen)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/plans"), chromedp.WaitVisible(css(`[data-testid="current-plan-name"]`))))
	require.Equal(t, "Standard", webtest.Text(t, bctx, `[data-testid="current-plan-name"]`))

	// Schedule a downgrade back to Basic: it waits for the period's end.
	clock.Advance(24 * time.Hour)
	for _, lang := range []struct{ code, confirm, scheduled, upgraded, down string }{
		{"zh-CN", "确认变更", "已安排变更", "升级", "安排降级"},
		{"en", "Schedule change", "Change scheduled", "Upgraded", "Downgrade scheduled"},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code)))
		choose("basic:monthly")
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-change-when"]`), day(sub.TermEnd))
		require.Equal(t, lang.confirm, webtest.Text(t, bctx, `[data-testid="plan-change-confirm"]`))
		fits("the downgrade preview (" + lang.code + ")")
		if lang.code == "zh-CN" {
			require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="plan-change-confirm"]`)),
				chromedp.WaitVisible(css(`[data-testid="plan-change-scheduled"]`))))
		} else {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/plans"),
				chromedp.WaitVisible(css(`[data-testid="plan-change-scheduled"]`))))
		}
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-change-scheduled"]`), lang.scheduled)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-change-scheduled"]`), day(sub.TermEnd))
		history := webtest.Text(t, bctx, `[data-testid="subscription-history"]`)
		require.Contains(t, history, lang.upgraded)
		require.Contains(t, history, lang.down)
		require.Less(t, strings.Index(history, lang.down), strings.Index(history, lang.upgraded), "newest first")
		fits("the plan page with a downgrade scheduled (" + lang.code + ")")
		webtest.Screenshot(t, bctx, "portal-plan-downgrade-scheduled-390-"+lang.code)
	}
	cur, err = subs.Current(ctx, acc)
	require.NoError(t, err)
	require.Equal(t, "standard", cur.PlanCode, "the plan in force stays to the period's end")

	// 3 days before the end the renewal order sells Basic; pay it by QR.
	clock.Advance(sub.TermEnd.Sub(clock.Now()) - 72*time.Hour)
	_, err = subs.GrantDue(ctx, clock.Now())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/zh-CN"), chromedp.Navigate(b.app.URL+"/portal/plans"),
		chromedp.WaitVisible(css(`[data-testid="plan-renew-submit"]`))))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-renewal-price"]`), "29.00", "the renewal sells the downgrade")
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(`[data-testid="plan-renew-channel-alipay"]`)),
		chromedp.Click(css(`[data-testid="plan-renew-submit"]`)),
	))
	o = pay("the renewal order")
	require.Equal(t, payments.PurposePlanRenewal, o.Purpose)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/plans"), chromedp.WaitVisible(css(`[data-testid="current-plan-name"]`))))
	require.Equal(t, "标准版", webtest.Text(t, bctx, `[data-testid="current-plan-name"]`), "paid early: Standard stays to the end")
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-change-next-paid"]`), "下一周期已付款")
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-change-scheduled"]`), "基础版", "the downgrade still waits")
	fits("the plan page with the next period paid (zh-CN)")

	// Past the period's end: Basic.
	clock.Advance(sub.TermEnd.Sub(clock.Now()) + time.Hour)
	_, err = subs.GrantDue(ctx, clock.Now())
	require.NoError(t, err)
	for _, lang := range []struct{ code, name, downgraded string }{{"zh-CN", "基础版", "降级生效"}, {"en", "Basic", "Downgraded"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="current-plan-name"]`))))
		require.Equal(t, lang.name, webtest.Text(t, bctx, `[data-testid="current-plan-name"]`), "the downgrade applied")
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="subscription-event-downgraded"]`), lang.downgraded)
		fits("the plan page after the downgrade (" + lang.code + ")")
		webtest.Screenshot(t, bctx, "portal-plan-downgraded-390-"+lang.code)
	}
	evs, err := subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	var got []plans.EventKind
	for _, e := range evs {
		got = append(got, e.Kind)
	}
	require.Equal(t, []plans.EventKind{plans.EventCreated, plans.EventUpgraded, plans.EventDowngradeScheduled, plans.EventRenewalOrdered,
		plans.EventRenewed, plans.EventDowngraded}, got)

	// Each change was announced by a signed webhook.
	rows, err := b.app.Services.Pool.Query(ctx, `SELECT args->>'event_type' FROM river_job WHERE kind = 'webhook_deliver' ORDER BY id`)
	require.NoError(t, err)
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{plans.WebhookUpgraded, plans.WebhookDowngradeScheduled, plans.WebhookRenewalDue, plans.WebhookRenewed},
		types)

	// The back office shows the history on the customer page.
	const pw = "staff password 1"
	email := uniqEmail("plan-change-support")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: pw, Name: "Support", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	sctx := webtest.Browser(t, 60*time.Second)
	webtest.SignIn(t, sctx, b.app.URL, email, pw)
	for _, lang := range []struct{ code, upgraded, downgraded string }{{"zh-CN", "升级", "降级生效"}, {"en", "Upgraded", "Downgraded"}} {
		require.NoError(t, chromedp.Do(sctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(fmt.Sprintf("%s/admin/customers/%d", b.app.URL, acc)),
			chromedp.WaitVisible(css(`[data-testid="customer-sub-history"]`))))
		require.Contains(t, webtest.Text(t, sctx, `[data-testid="sub-event-upgraded"]`), lang.upgraded)
		require.Contains(t, webtest.Text(t, sctx, `[data-testid="sub-event-downgraded"]`), lang.downgraded)
		webtest.RequireFitsWidth(t, sctx, 390, "the customer page with the subscription history (%s)", lang.code)
		off, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](offViewportJS))
		require.NoError(t, err)
		require.Empty(t, off, "the customer page (%s): elements leave a 390 px screen", lang.code)
		webtest.Screenshot(t, sctx, "admin-customer-subscription-history-390-"+lang.code)
	}
}
