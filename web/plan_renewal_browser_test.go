package web_test

import (
	"context"
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
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPlanRenewalOnThePortal moves the server's clock through a monthly
// plan's life: 3 days before the term end the plan page shows the renewal
// order (plan, next period, amount) with "renew now", at 390 px in both
// languages; renewing opens the existing QR checkout, and paying it moves
// the term on by a month. After the next term end, unpaid, the page shows
// the grace (in force until the grace end) and the renewal still payable;
// after the grace the account has no plan again (Free).
func TestPlanRenewalOnThePortal(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase(), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now })}, nil)
	ctx := context.Background()
	_, err := b.app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	subs := b.app.Services.Subscriptions
	login := uniqEmail("plan-renew")
	c, acc := b.customer(t, login, true)
	sub, _, err := subs.Subscribe(ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: "basic", Cycle: plans.Monthly, Actor: "test"})
	require.NoError(t, err)
	day := func(t time.Time) string { return t.In(format.Shanghai).Format("2006-01-02") }
	_, _, err = b.app.Services.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.example.com/credits")
	require.NoError(t, err)

	p := c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Empty(t, p.TestID("plan-renewal"), "no renewal order a month ahead")
	require.Contains(t, p.TestID("current-plan-term-end"), day(sub.TermEnd), "the renewal date")

	// 3 days before the term end the job has made the renewal order.
	clock.Advance(sub.TermEnd.Sub(clock.Now()) - 72*time.Hour)
	_, err = subs.GrantDue(ctx, clock.Now())
	require.NoError(t, err)
	next := sub.NextPeriod(plans.Monthly)

	bctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, renew, title string }{{"zh-CN", "立即续费", "待续费"}, {"en", "Renew now", "Renewal due"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-renew-submit"]`))))
		require.Equal(t, lang.renew, webtest.Text(t, bctx, `[data-testid="plan-renew-submit"]`))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-renewal"]`), lang.title)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-renewal-price"]`), "29.00")
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-renewal-period"]`), day(next.End))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="current-plan-term-end"]`), day(sub.TermEnd))
		webtest.RequireFitsWidth(t, bctx, 390, "the plan page with a renewal due (%s)", lang.code)
		right, err := chromedp.Run(bctx, chromedp.Evaluate[float64](
			`Math.max(...[...document.querySelectorAll('[data-testid="plan-renewal"] *')].map(e => e.getBoundingClientRect().right))`))
		require.NoError(t, err)
		require.LessOrEqual(t, right, 390.0, "the renewal box is off-screen (%s)", lang.code)
		page, err := chromedp.Run(bctx, chromedp.Text(css("main")))
		require.NoError(t, err)
		require.NotContains(t, page, "plans.renewal", "no raw keys (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-plan-renewal-390-"+lang.code)
	}
	// Renew now with Alipay: the existing QR checkout, for the renewal's price.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(`[data-testid="plan-renew-channel-alipay"]`)),
		chromedp.Click(css(`[data-testid="plan-renew-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="checkout-amount"]`), "29.00")
	webtest.RequireFitsWidth(t, bctx, 390, "the renewal checkout")
	loc, err := chromedp.Run(bctx, chromedp.Location())
	require.NoError(t, err)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	no := path.Base(u.Path)
	o := b.order(t, no)
	require.Equal(t, payments.PurposePlanRenewal, o.Purpose)
	require.Equal(t, sub.ID, o.SubscriptionID)

	d, err := b.sim.Confirm(ctx, string(payments.ChannelAlipay), no)
	require.NoError(t, err)
	require.True(t, d.Acked, "the notify renews")
	require.Equal(t, payments.StatePaid, b.order(t, no).State)
	p = c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("current-plan-term-end"), day(next.End), "the term moved on by a month")
	require.Empty(t, p.TestID("plan-renewal"), "nothing due any more")

	// The next term ends unpaid: past due, grace 3 days, still renewable.
	clock.Advance(next.End.Sub(clock.Now()) + time.Hour)
	_, err = subs.GrantDue(ctx, clock.Now())
	require.NoError(t, err)
	grace := next.End.AddDate(0, 0, plans.DefaultGraceDays)
	for _, lang := range []struct{ code, due string }{{"zh-CN", "宽限期"}, {"en", "grace"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-past-due"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-past-due"]`), lang.due)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="current-plan-grace-until"]`), day(grace))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="plan-renewal-period"]`), day(next.End))
		webtest.RequireFitsWidth(t, bctx, 390, "the plan page in grace (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-plan-grace-390-"+lang.code)
	}

	// After the grace the plan expires: the page shows no plan (Free).
	clock.Advance(grace.Sub(clock.Now()) + time.Minute)
	_, err = subs.GrantDue(ctx, clock.Now())
	require.NoError(t, err)
	p = c.Get("/portal/plans")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("current-plan-none"), "no plan: pay as you go")
	require.Contains(t, p.TestID("plan-buy-submit-basic"), "购买套餐", "a plan can be bought again")
	evs, err := subs.Events(ctx, sub.ID)
	require.NoError(t, err)
	var got []plans.EventKind
	for _, e := range evs {
		got = append(got, e.Kind)
	}
	require.Equal(t, []plans.EventKind{plans.EventCreated, plans.EventRenewalOrdered, plans.EventRenewed, plans.EventRenewalOrdered,
		plans.EventPastDue, plans.EventExpired}, got)

	// Each step was announced by a signed webhook and (but the renewal) a mail.
	rows, err := b.app.Services.Pool.Query(ctx, `SELECT args->>'event_type' FROM river_job WHERE kind = 'webhook_deliver' ORDER BY id`)
	require.NoError(t, err)
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{plans.WebhookRenewalDue, plans.WebhookRenewed, plans.WebhookRenewalDue, plans.WebhookPastDue,
		plans.WebhookExpired}, types)
	rows, err = b.app.Services.Pool.Query(ctx, `SELECT args->'message'->>'subject' FROM river_job
WHERE kind = 'mail_send' AND args->'message'->'to' ? $1 ORDER BY id`, login)
	require.NoError(t, err)
	subjects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var planMails []string
	for _, sj := range subjects {
		if strings.Contains(sj, "套餐") || strings.Contains(strings.ToLower(sj), "plan") {
			planMails = append(planMails, sj)
		}
	}
	require.Len(t, planMails, 4, "two reminders, the grace, the end: %q", subjects)
	require.Contains(t, planMails[0], "29.00")
	require.Contains(t, planMails[2], day(grace))
}
