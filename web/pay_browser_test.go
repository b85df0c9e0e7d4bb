package web_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestTopUpThroughTheSandboxInChromium tops up ¥100 in headless Chromium,
// first through the WeChat Pay sandbox, then through Alipay: the checkout's
// QR image is decoded and must carry the order's code_url / qr_code; the
// sandbox's "scan to pay" page, opened from that code in another tab,
// confirms; the checkout turns to paid without a reload (htmx polling); and
// the overview shows the ¥100 in paid credit and the bonus in promo.
func TestTopUpThroughTheSandboxInChromium(t *testing.T) {
	// Not parallel: it runs before the parallel tests, so that two Chromiums
	// do not compete on a small machine (the portal journey's timing is tight).
	b := setupPay(t)
	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/signup"),
		chromedp.WaitVisible(css(`[data-testid="signup-form"]`)),
		chromedp.SendKeys(css(`#f-login`), "payer@example.com"),
		chromedp.SendKeys(css(`#f-password`), "payer pass 1"),
		chromedp.SendKeys(css(`#f-password_confirm`), "payer pass 1"),
		chromedp.Click(css(`[data-testid="signup-consent"]`)),
		chromedp.Click(css(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
	))
	u, err := b.auth.UserByLogin(context.Background(), "payer@example.com")
	require.NoError(t, err)
	_, err = b.verify.MarkVerifiedExternally(context.Background(), u.AccountID, "browser-test", "test")
	require.NoError(t, err)

	for i, tc := range []struct {
		channel payments.Channel
		name    string
	}{
		{payments.ChannelWeChat, "微信支付"},
		{payments.ChannelAlipay, "支付宝"},
	} {
		t.Run(string(tc.channel), func(t *testing.T) {
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Navigate(b.app.URL+"/portal/topup"),
				chromedp.WaitVisible(css(`[data-testid="topup-form"]`)),
				chromedp.Click(css(`[data-testid="tier-10000"]`)),
				chromedp.Click(css(`[data-testid="channel-`+string(tc.channel)+`"]`)),
			))
			webtest.Screenshot(t, ctx, "topup")
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="topup-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`)),
			))
			require.Equal(t, "¥100.00", webtest.Text(t, ctx, `[data-testid="checkout-amount"]`))
			require.Equal(t, tc.name, webtest.Text(t, ctx, `[data-testid="checkout-channel"]`))
			require.Regexp(t, `^1[45]:\d\d$`, webtest.Text(t, ctx, `[data-testid="checkout-remaining"]`))
			o := b.order(t, webtest.Text(t, ctx, `[data-testid="checkout-order-no"]`))
			require.Equal(t, tc.channel, o.Channel)
			require.Equal(t, payments.StatePending, o.State)
			webtest.Screenshot(t, ctx, "checkout")

			// The image the browser shows, decoded by a QR reader.
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="checkout-qr"]').naturalWidth >= 200`))
			require.NoError(t, err)
			require.True(t, shown, "the browser drew the QR image")
			b64, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('[data-testid="checkout-qr"]').src)
				.then(r => r.arrayBuffer())
				.then(buf => { let s = ""; new Uint8Array(buf).forEach(x => s += String.fromCharCode(x)); return btoa(s); })`, chromedp.EvalAwaitPromise))
			require.NoError(t, err)
			png, err := base64.StdEncoding.DecodeString(b64)
			require.NoError(t, err)
			code := decodeQR(t, png)
			require.Equal(t, o.QRCode, code, "the QR carries the channel's code")
			require.True(t, strings.HasPrefix(code, b.simURL+"/pay/"+string(tc.channel)+"/"), code)

			// Mark the page: a reload would lose it.
			_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.noReloadMark = true`))
			require.NoError(t, err)

			// "Scan" the code: open it in another tab and confirm there.
			tab, closeTab := chromedp.NewContext(ctx)
			require.NoError(t, chromedp.Do(tab,
				chromedp.Navigate(code),
				chromedp.WaitVisible(css(`[data-testid="paysim-confirm"]`)),
			))
			amount, err := chromedp.Run(tab, chromedp.Text(css(`[data-testid="paysim-amount"]`)))
			require.NoError(t, err)
			require.Equal(t, "¥100.00", amount)
			require.NoError(t, chromedp.Do(tab,
				chromedp.Click(css(`[data-testid="paysim-confirm"]`)),
				chromedp.WaitVisible(css(`[data-testid="paysim-message"]`)),
			))
			closeTab()

			// The checkout turns to paid by itself.
			require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid="checkout-paid"]`))))
			kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.noReloadMark === true`))
			require.NoError(t, err)
			require.True(t, kept, "the page was not reloaded")
			require.Equal(t, "100,000", webtest.Text(t, ctx, `[data-testid="checkout-credits"]`))
			require.Equal(t, "20,000", webtest.Text(t, ctx, `[data-testid="checkout-bonus"]`))
			n := (i + 1) * 120000
			require.Equal(t, map[int]string{120000: "120,000", 240000: "240,000"}[n], webtest.Text(t, ctx, `[data-testid="checkout-balance"]`))
			webtest.Screenshot(t, ctx, "paid")
			require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)

			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="checkout-overview"]`)),
				chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
			))
			paid := map[int]string{0: "100,000", 1: "200,000"}[i]
			promo := map[int]string{0: "20,000", 1: "40,000"}[i]
			require.Equal(t, paid, webtest.Text(t, ctx, `[data-testid="bucket-paid-amount"]`), "¥100 per top-up in paid")
			require.Equal(t, promo, webtest.Text(t, ctx, `[data-testid="bucket-promo-amount"]`), "the +20 % bonus in promo")
		})
	}
	b.verifyLedger(t)
}
