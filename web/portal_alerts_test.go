package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/internal/webhook"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAlertSettingsFormReportsEveryFieldAtOnce: bad input keeps what was
// typed and names every field's problem, in the user's language.
func TestAlertSettingsFormReportsEveryFieldAtOnce(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, _ := b.register(t, uniqEmail("alerts-form"), "")
	p := c.Get("/portal/alerts")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "20, 5", p.Doc.Find(`[data-testid="alerts-percents"]`).AttrOr("value", ""), "the defaults")

	bad := url.Values{"percents": {"0, 120"}, "credits": {"lots"}, "recipients": {"not-an-address"}}
	p = c.PostForm("/portal/alerts", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("error-percents"), "1–99")
	require.NotEmpty(t, p.TestID("error-credits"))
	require.Contains(t, p.TestID("error-recipients"), "not-an-address")
	require.Equal(t, "lots", p.Doc.Find(`[data-testid="alerts-credits"]`).AttrOr("value", ""), "what was typed is kept")

	c.Get("/lang/en")
	p = c.PostForm("/portal/alerts", url.Values{"percents": {""}, "credits": {""}, "recipients": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Set at least one share or a number of credits.", p.TestID("error-percents"))
	require.Equal(t, "Without the account's address, name at least one recipient.", p.TestID("error-recipients"))

	p = c.PostForm("/portal/alerts", url.Values{"percents": {"５０，１０"}, "credits": {"1,000"}, "recipients": {"Ops@Example.com；fin@example.com"}, "mail_owner": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("flash-success"))
	require.Equal(t, "50, 10", p.Doc.Find(`[data-testid="alerts-percents"]`).AttrOr("value", ""), "full-width digits accepted")
	require.Equal(t, "1000", p.Doc.Find(`[data-testid="alerts-credits"]`).AttrOr("value", ""))
	require.Equal(t, "ops@example.com, fin@example.com", p.Doc.Find(`[data-testid="alerts-recipients"]`).AttrOr("value", ""))
}

// TestAlertSettingsDecideWhenAndWhomTheScannerTells: the customer's own
// thresholds (a share and a number of credits) each alert once, by mail to
// the recipients they named and by webhook.
func TestAlertSettingsDecideWhenAndWhomTheScannerTells(t *testing.T) {
	t.Parallel()
	b := setupPortal(t, webtest.WithOwnDatabase())
	ctx := context.Background()
	pool := b.app.Pool
	smtp := mailtest.NewServer(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(smtp.Sender(t)))
	river.AddWorker(workers, webhook.NewDeliverer(pool, webhook.DelivererOptions{AllowPrivateNetworks: true}))
	client := jobstest.Start(t, pool, workers)
	hooks := webhook.NewService(pool, client, webhook.Options{})
	alerts, err := gateway.NewAlerts(pool, client, hooks, gateway.AlertOptions{GapTimeout: time.Millisecond})
	require.NoError(t, err)
	_, err = alerts.ScanEvents(ctx) // the cursor starts at the newest event
	require.NoError(t, err)

	login := uniqEmail("alerts-owner")
	c, u := b.register(t, login, "")
	b.verified(t, u.AccountID)
	c.Get("/portal/alerts")
	p := c.PostForm("/portal/alerts", url.Values{"percents": {"50"}, "credits": {"300"}, "recipients": {"ops@example.com"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)

	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000),
		IdempotencyKey: "alerts-topup", ReasonCode: "topup", SourceRef: "test"})
	require.NoError(t, err)
	scan := func() {
		for {
			n, err := alerts.ScanEvents(ctx)
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
	}
	charge := func(key, amount string) {
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: u.AccountID, Amount: decimal.RequireFromString(amount), IdempotencyKey: key})
		require.NoError(t, err)
		scan()
	}
	scan()
	// The pool holds 1000 paid + 5000 sign-up promo: the baseline is 6000.
	charge("a1", "2900") // 3100 left: above 50 % (3000)
	charge("a2", "200")  // 2900: below 50 %
	msgs := smtp.WaitTo(t, "ops@example.com", 1)
	require.Contains(t, msgs[0].Subject, "50%")
	charge("a3", "100")  // 2800: still only below 50 %
	charge("a4", "2600") // 200: below 300 credits
	msgs = smtp.WaitTo(t, "ops@example.com", 2)
	require.Contains(t, msgs[1].Subject, "300.00")
	time.Sleep(200 * time.Millisecond)
	require.Len(t, smtp.Messages(), 2, "each threshold once, and not to the owner (unticked)")
	for _, m := range smtp.Messages() {
		require.NotContains(t, m.To, login)
	}
}

// TestAlertSettingsOnAPhoneInChromium: the settings page and its errors fit
// a 390 px phone in Chinese and in English.
func TestAlertSettingsOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPortal(t)
	login := uniqEmail("alerts-phone")
	b.register(t, login, "")
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, title string }{{"zh-CN", "余额提醒"}, {"en", "Balance alerts"}} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/alerts"),
			chromedp.WaitVisible(css(`[data-testid="alerts-form"]`)),
			chromedp.SetValue(css(`[data-testid="alerts-percents"]`), "0"),
			chromedp.SetValue(css(`[data-testid="alerts-recipients"]`), "a-very-long-address-without-an-at-sign-that-might-overflow-the-screen"),
			chromedp.Click(css(`[data-testid="alerts-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-percents"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `h1`), lang.title)
		webtest.RequireFitsWidth(t, ctx, 390, "the alert settings (%s)", lang.code)
		webtest.Screenshot(t, ctx, "portal-alerts-390-"+lang.code)
	}
}

// TestUsageChartSaysWhenEmptyInChromium: a range without usage shows a
// sentence, not an empty frame, in both languages at 390 px.
func TestUsageChartSaysWhenEmptyInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPortal(t)
	login := uniqEmail("chart-empty")
	b.register(t, login, "")
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, empty string }{{"zh-CN", "所选时间段内没有用量。"}, {"en", "No usage in this period."}} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/usage?from=2020-01-01&to=2020-01-31"),
			chromedp.WaitVisible(css(`[data-testid="usage-chart"][data-loaded="true"]`)),
		))
		require.Equal(t, lang.empty, webtest.Text(t, ctx, `[data-testid="usage-chart"]`))
		webtest.RequireFitsWidth(t, ctx, 390, "the usage page (%s)", lang.code)
	}
}
