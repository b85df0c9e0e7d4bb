package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web/webtest"
)

// TestPlanBuyOnAPhoneInChromium: at 390 px, in both languages, the plans
// page shows Basic's buy form within the screen, and buying it yearly with
// Alipay opens the existing QR checkout.
func TestPlanBuyOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPay(t)
	demoPlans(t, b.app)
	login := uniqEmail("plan-phone")
	b.customer(t, login, true)
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, button string }{{"zh-CN", "购买套餐"}, {"en", "Buy plan"}} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/plans"),
			chromedp.WaitVisible(css(`[data-testid="plan-buy-submit-basic"]`)),
		))
		require.Equal(t, lang.button, webtest.Text(t, ctx, `[data-testid="plan-buy-submit-basic"]`))
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the plans page scrolls sideways on a phone (%s)", lang.code)
		right, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
			`Math.max(...[...document.querySelectorAll('form.plan-buy button, form.plan-buy label')].map(e => e.getBoundingClientRect().right))`))
		require.NoError(t, err)
		require.LessOrEqual(t, right, 390.0, "a buy control is off-screen (%s)", lang.code)
		webtest.Screenshot(t, ctx, "portal-plans-buy-390-"+lang.code)

		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="plan-cycle-yearly-basic"]`)),
			chromedp.Click(css(`[data-testid="plan-channel-alipay-basic"]`)),
			chromedp.Click(css(`[data-testid="plan-buy-submit-basic"]`)),
			chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="checkout-amount"]`), "290.00", "Basic's yearly price")
		width, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the checkout scrolls sideways on a phone (%s)", lang.code)
	}
}
