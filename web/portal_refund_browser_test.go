package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestRefundRequestOnAPhoneInChromium: on a 390 px phone the customer
// reaches the orders page from the menu (which also offers the redemption
// code page), reads the bonus rule, asks for too much and is told the most
// they may ask, then requests ¥25.50 back; finance approves; the page shows
// it refunded, the paid credit is ¥25.50 lower and the bonus 25.5 % lower;
// in English too. Nothing is wider than the screen.
func TestRefundRequestOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupRefunds(t)
	bg := context.Background()
	_, acc := b.customer(t, "refund-phone@example.com", true)
	o, err := b.pay.CreateQROrder(bg, acc, 10000, payments.ChannelWeChat)
	require.NoError(t, err)
	_, err = b.sim.Confirm(bg, string(payments.ChannelWeChat), o.OrderNo)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(page string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", page)
	}
	offer := offerSel(o.OrderNo)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), "refund-phone@example.com"),
		chromedp.SendKeys(css(`#f-password`), "correct horse 1"),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
	))
	require.Equal(t, "兑换码", webtest.Text(t, ctx, `[data-testid="nav-portal.redeem"]`))
	fitsThePhone("the overview")
	webtest.Screenshot(t, ctx, "overview-menu-390-zh")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="nav-portal.orders"]`)),
		chromedp.WaitVisible(css(offer+` [data-testid="refund-form"]`)),
	))
	require.Equal(t, "¥100.00", webtest.Text(t, ctx, offer+` [data-testid="refund-max"]`))
	require.Equal(t, "20,000", webtest.Text(t, ctx, offer+` [data-testid="refund-bonus"]`))
	require.Contains(t, webtest.Text(t, ctx, offer+` [data-testid="refund-bonus-rule"]`), "按上方金额退款将作废未使用的赠送点数 20,000 点。")
	fitsThePhone("the orders page")

	// Too much: the form comes back with the most that may be asked.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(offer+` [data-testid="refund-amount"]`), "120"),
		chromedp.SendKeys(css(offer+` [data-testid="refund-reason"]`), "试用结束"),
		chromedp.Click(css(offer+` [data-testid="refund-submit"]`)),
		chromedp.WaitVisible(css(offer+` [data-testid="refund-error-amount"]`)),
	))
	require.Equal(t, "此笔充值最多可退 ¥100.00。", webtest.Text(t, ctx, offer+` [data-testid="refund-error-amount"]`))
	webtest.Screenshot(t, ctx, "refund-error-390-zh")

	_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+offer+` [data-testid="refund-amount"]').value = ""`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css(offer+` [data-testid="refund-amount"]`), "25.50"),
		chromedp.Click(css(offer+` [data-testid="refund-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Equal(t, "待审核", webtest.Text(t, ctx, `[data-testid="refund-row"][data-order="`+o.OrderNo+`"] [data-testid="refund-row-state"]`))
	fitsThePhone("the orders page with a request")
	webtest.Screenshot(t, ctx, "refund-requested-390-zh")

	reqs, err := b.bo.RefundRequests(bg, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	fin := b.finance(t)
	fin.Get("/admin/refunds")
	fin.PostForm("/admin/refunds/"+itoa(reqs[0].ID)+"/approve", nil)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid="refund-row"][data-state="done"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="refund-row"][data-order="`+o.OrderNo+`"] [data-testid="refund-row-state"]`), "已退款")
	require.Equal(t, "¥74.50", webtest.Text(t, ctx, offer+` [data-testid="refund-max"]`))
	fitsThePhone("the orders page after the refund")
	webtest.Screenshot(t, ctx, "refund-done-390-zh")
	requireCredits(t, "74500", b.balance(t, acc).ByKind[ledger.LotPaid], "¥25.50 of paid credit went back")
	requireCredits(t, "14900", b.balance(t, acc).ByKind[ledger.LotPromo], "and 25.5 % of the bonus with it")

	// English.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="lang-en"]`)),
		chromedp.WaitVisible(css(offer+` [data-testid="refund-bonus-rule"]`)),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
	require.NoError(t, err)
	require.Equal(t, "¥74.50", webtest.Text(t, ctx, offer+` [data-testid="refund-max"]`))
	rule := webtest.Text(t, ctx, offer+` [data-testid="refund-bonus-rule"]`)
	require.Contains(t, rule, "A refund takes back the same share of the bonus granted with this top-up")
	require.Contains(t, rule, "Refunding the amount above cancels 14,900 unused bonus credits.")
	fitsThePhone("the orders page in English")
	webtest.Screenshot(t, ctx, "refund-bonus-390-en")
	b.verifyLedger(t)
}
