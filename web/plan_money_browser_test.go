package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestYearlyRefundOfferOnAPhone: on a 390 px phone, in Chinese and in
// English, a customer with a paid yearly plan reads the refund rule and its
// figures on /portal/plans, is told in their language that a reason is
// needed, then asks; the request waits for finance. Nothing leaves the
// screen and no raw key shows.
func TestYearlyRefundOfferOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	r := &refundBundle{}
	r.payBundle = setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, func(b *payBundle, a *app.App) {
		r.inv, r.bo = a.Invoicing, a.Backoffice
	})
	demoPlans(t, r.app)
	login := uniqEmail("refund-phone")
	c, _ := r.customer(t, login, true)
	r.buyPlan(t, c, "basic", "yearly")

	bctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, r.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, title, rule, reason string }{
		{"zh-CN", "按年套餐退款", "尚未开始的整月按月均价退还", "请填写原因。"},
		{"en", "Refund of a yearly plan", "whole months of this year that have not begun", "A reason is required."},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(r.app.URL+"/lang/"+lang.code), chromedp.Navigate(r.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-refund"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-refund"]`), lang.title)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-refund-rule"]`), lang.rule)
		require.Equal(t, "¥265.83", webtest.Text(t, bctx, `[data-testid="plan-refund-amount"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the plan page with the refund offer (%s)", lang.code)
		// The reason is required: said on its field in the user's language.
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="plan-refund-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="plan-refund-error-reason"]`))))
		require.Equal(t, lang.reason, webtest.Text(t, bctx, `[data-testid="plan-refund-error-reason"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the refund form with its error (%s)", lang.code)
		page, err := chromedp.Run(bctx, chromedp.Text(css("main")))
		require.NoError(t, err)
		require.NotContains(t, page, "plans.refund", "no raw keys (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-plan-refund-390-"+lang.code)
	}
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(css(`[data-testid="plan-refund-reason"]`), "not needed any more"),
		chromedp.Click(css(`[data-testid="plan-refund-submit"]`)),
		chromedp.WaitVisible(css(`#refunds`)),
		chromedp.Navigate(r.app.URL+"/portal/plans"),
		chromedp.WaitVisible(css(`[data-testid="plan-refund-open"]`)),
	))
	require.Equal(t, "A refund request for this plan is waiting for finance's approval.", webtest.Text(t, bctx, `[data-testid="plan-refund-open"]`))
	webtest.RequireFitsWidth(t, bctx, 390, "the plan page with the request waiting")
}

// TestSubscriptionDeskOnAPhone: on a 390 px phone, in Chinese and in
// English, support filters the subscriber list, opens a subscriber's page,
// sees the plan and its history, is refused an extension without days with
// both fields' messages in their language, extends by 3 days and sees the
// extended event; finance reads the revenue report with the plan-fee
// columns. No element leaves the screen.
func TestSubscriptionDeskOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t, webtest.WithOwnDatabase())
	demoPlans(t, b.app)
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "手机订阅企业"})
	require.NoError(t, err)
	_, _, err = b.app.Services.Subscriptions.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc.ID, PlanCode: "standard", Cycle: plans.Yearly,
		Actor: "payments:alipay", Note: "P-PHONE"})
	require.NoError(t, err)
	const pw = "staff password 1"
	support, finance := uniqEmail("desk-support"), uniqEmail("desk-finance")
	for email, role := range map[string]auth.Role{support: auth.RoleSupport, finance: auth.RoleFinance} {
		_, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: pw, Name: string(role), Roles: []auth.Role{role}})
		require.NoError(t, err)
	}

	bctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, support, pw)
	customer := fmt.Sprintf("/admin/customers/%d", acc.ID)
	for _, lang := range []struct{ code, title, days, reason, event string }{
		{"zh-CN", "订阅客户", "天数须在 1 到 90 之间。", "请填写原因。", "延长周期"},
		{"en", "Subscribers", "Days must be between 1 and 90.", "A reason is required.", "Period extended"},
	} {
		list := b.app.URL + "/admin/subscriptions?" + url.Values{"plan": {"standard"}, "cycle": {"yearly"}, "q": {"手机订阅企业"}}.Encode()
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(list),
			chromedp.WaitVisible(css(`[data-testid="subs-results"]`))))
		require.Contains(t, webtest.Text(t, bctx, "main"), lang.title)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="sub-account"]`), "手机订阅企业")
		webtest.RequireFitsWidth(t, bctx, 390, "the subscriber list (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-subscriptions-390-"+lang.code)

		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="sub-account"]`)),
			chromedp.WaitVisible(css(`[data-testid="customer-subscription"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="customer-sub-plan"]`), map[string]string{"zh-CN": "标准版", "en": "Standard"}[lang.code])
		webtest.RequireFitsWidth(t, bctx, 390, "the customer page's subscription (%s)", lang.code)

		require.NoError(t, chromedp.Do(bctx,
			chromedp.SetValue(css(`[data-testid="plan-extend-days"]`), ""), // empty: the browser lets it through, the server refuses it
			chromedp.Click(css(`[data-testid="plan-extend-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="plan-extend-form"] [aria-invalid="true"]`)),
		))
		form := webtest.Text(t, bctx, `[data-testid="plan-extend-form"]`)
		require.Contains(t, form, lang.days, "both fields at once (%s)", lang.code)
		require.Contains(t, form, lang.reason)
		webtest.RequireFitsWidth(t, bctx, 390, "the extend form with its errors (%s)", lang.code)

		require.NoError(t, chromedp.Do(bctx,
			chromedp.SetValue(css(`[data-testid="plan-extend-days"]`), "3"),
			chromedp.SendKeys(css(`[data-testid="plan-extend-reason"]`), "outage "+lang.code),
			chromedp.Click(css(`[data-testid="plan-extend-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="sub-event-extended"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="customer-sub-history"]`), lang.event)
		page := webtest.Text(t, bctx, "main")
		require.NotContains(t, page, "admin.subs", "no raw keys (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the customer page after the extension (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-customer-subscription-390-"+lang.code)
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+customer)))
	}
	cur, err := b.app.Services.Subscriptions.Current(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, cur.Anchor.AddDate(1, 0, 0), cur.TermEnd, "extended twice by 3 days: the year moved 6 days")
	require.Equal(t, 6*24*time.Hour, cur.Anchor.Sub(cur.StartedAt))

	// Finance's revenue report with the plan-fee columns, both languages.
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="signout"]`)), chromedp.WaitNotPresent(css(`[data-testid="signout"]`))))
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	for _, lang := range []struct{ code, head string }{{"zh-CN", "套餐费递延收入"}, {"en", "Deferred plan revenue"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/admin/reports"),
			chromedp.WaitVisible(css(`[data-testid="report-total"]`))))
		require.True(t, strings.Contains(webtest.Text(t, bctx, `[data-testid="report"]`), lang.head), lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the revenue report (%s)", lang.code)
	}
}
