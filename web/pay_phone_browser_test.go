package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPhonePayH5AndWAPInChromium tops up on a 390 px iPhone (its user
// agent too): through WeChat Pay H5 in Chinese, then Alipay WAP in English,
// both in the sandbox. The top-up form preselects 在手机上支付 on a phone;
// submitting goes straight to the channel's phone cashier; giving up
// there comes back to the order page, which offers to open the app again;
// paying there returns to the order page, which turns to paid by itself
// and shows the credit, as does the overview. Nothing is wider than the
// screen.
func TestPhonePayH5AndWAPInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupPay(t)
	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(t *testing.T, what string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		if width > 390 {
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391 || e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + "." + e.className + "[" + (e.dataset.testid||"") + "] " + Math.round(e.getBoundingClientRect().right) + " sw " + e.scrollWidth + "/" + e.clientWidth).join("\n")`))
			t.Fatalf("%s scrolls sideways on a phone (%d px):\n%s", what, width, wide)
		}
	}
	path := func(t *testing.T) string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		require.NoError(t, err)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		return u.Path
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Emulate(device.IPhone13),
		chromedp.Navigate(b.app.URL+"/signup"),
		chromedp.WaitVisible(css(`[data-testid="signup-form"]`)),
		chromedp.SendKeys(css(`#f-login`), "phone-payer@example.com"),
		chromedp.SendKeys(css(`#f-password`), "payer pass 1"),
		chromedp.SendKeys(css(`#f-password_confirm`), "payer pass 1"),
		chromedp.Click(css(`[data-testid="signup-consent"]`)),
		chromedp.Click(css(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
	))
	u, err := b.auth.UserByLogin(context.Background(), "phone-payer@example.com")
	require.NoError(t, err)
	_, err = b.verify.MarkVerifiedExternally(context.Background(), u.AccountID, "browser-test", "test")
	require.NoError(t, err)

	for i, tc := range []struct {
		channel                                   payments.Channel
		lang                                      string
		modeLegend, phoneLabel, title, openButton string
		handoffTitle                              string
		balance, paid, promo                      string
	}{
		{payments.ChannelWeChat, "zh-CN", "在哪里付款", "在手机上支付", "手机支付", "打开微信支付", "正在打开微信支付", "120,000", "100,000", "20,000"},
		{payments.ChannelAlipay, "en", "Where you pay", "Pay on this phone", "Pay on your phone", "Open Alipay", "Opening Alipay", "240,000", "200,000", "40,000"},
	} {
		t.Run(string(tc.channel), func(t *testing.T) {
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Navigate(b.app.URL+"/portal/topup"),
				chromedp.WaitVisible(css(`[data-testid="topup-form"]`)),
			))
			if i == 1 {
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Click(css(`[data-testid="lang-en"]`)),
					chromedp.WaitVisible(css(`[data-testid="topup-form"]`)),
				))
				_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
				require.NoError(t, err)
			}
			require.Equal(t, tc.modeLegend, webtest.Text(t, ctx, `[data-testid="pay-modes"] legend`))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="pay-modes"]`), tc.phoneLabel)
			phoneFirst, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="mode-phone"]').checked`))
			require.NoError(t, err)
			require.True(t, phoneFirst, "a phone browser pays on the phone unless told otherwise")
			fitsThePhone(t, "the top-up form")
			webtest.Screenshot(t, ctx, "phone-topup-390-"+tc.lang)

			// Submit: straight on to the channel's phone cashier.
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="tier-10000"]`)),
				chromedp.Click(css(`[data-testid="channel-`+string(tc.channel)+`"]`)),
				chromedp.Click(css(`[data-testid="topup-submit"]`)),
			))
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = chromedp.Do(sctx, chromedp.WaitVisible(css(`[data-testid="paysim-phone"]`)))
			cancel()
			if err != nil {
				body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
				t.Fatalf("the phone cashier did not open: %v\n%s", err, body)
			}
			require.Equal(t, "/h5/"+string(tc.channel)+"/", path(t)[:len("/h5/"+string(tc.channel)+"/")])
			no := webtest.Text(t, ctx, `[data-testid="paysim-order"]`)
			o := b.order(t, no)
			require.Equal(t, payments.PayModePhone, o.PayMode)
			require.Equal(t, payments.StatePending, o.State)
			require.Equal(t, "¥100.00", webtest.Text(t, ctx, `[data-testid="paysim-amount"]`))
			if tc.channel == payments.ChannelWeChat {
				require.Contains(t, webtest.Text(t, ctx, `[data-testid="paysim-phone"]`), "127.0.0.1", "scene_info.payer_client_ip is the browser's address")
			}

			// Give up: back on the order page, which offers to open the app again.
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="paysim-back"]`)),
				chromedp.WaitVisible(css(`[data-testid="checkout-pay-phone"]`)),
			))
			require.Equal(t, "/portal/orders/"+no, path(t))
			require.Equal(t, tc.openButton, webtest.Text(t, ctx, `[data-testid="checkout-pay-phone"]`))
			require.Equal(t, "¥100.00", webtest.Text(t, ctx, `[data-testid="checkout-amount"]`))
			title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(title, tc.title), title)
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="checkout-qr"]').length`))
			require.NoError(t, err)
			require.Zero(t, n, "a phone order shows no code to scan")
			fitsThePhone(t, "the phone order page")
			webtest.Screenshot(t, ctx, "phone-order-390-"+tc.lang)

			// The hand-off page, held still (scripts off: it follows its link at once).
			_, err = chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Navigate(b.app.URL+"/portal/orders/"+no+"/open"),
				chromedp.WaitVisible(css(`[data-testid="phone-handoff-link"]`)),
			))
			require.Equal(t, tc.openButton, webtest.Text(t, ctx, `[data-testid="phone-handoff-link"]`))
			title, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(title, tc.handoffTitle), title)
			fitsThePhone(t, "the hand-off page")
			webtest.Screenshot(t, ctx, "phone-handoff-390-"+tc.lang)
			_, err = chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="phone-handoff-order"]`)),
				chromedp.WaitVisible(css(`[data-testid="checkout-pay-phone"]`)),
			))

			// Open it again and pay: the channel sends the browser back here.
			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="checkout-pay-phone"]`)),
				chromedp.WaitVisible(css(`[data-testid="paysim-confirm"]`)),
				chromedp.Click(css(`[data-testid="paysim-confirm"]`)),
				chromedp.WaitVisible(css(`[data-testid="checkout-paid"]`)),
			))
			require.Equal(t, "/portal/orders/"+no, path(t))
			require.Equal(t, "100,000", webtest.Text(t, ctx, `[data-testid="checkout-credits"]`))
			require.Equal(t, "20,000", webtest.Text(t, ctx, `[data-testid="checkout-bonus"]`))
			require.Equal(t, tc.balance, webtest.Text(t, ctx, `[data-testid="checkout-balance"]`))
			require.Equal(t, payments.StatePaid, b.order(t, no).State)
			fitsThePhone(t, "the paid order page")
			webtest.Screenshot(t, ctx, "phone-paid-390-"+tc.lang)

			require.NoError(t, chromedp.Do(ctx,
				chromedp.Click(css(`[data-testid="checkout-overview"]`)),
				chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
			))
			require.Equal(t, tc.paid, webtest.Text(t, ctx, `[data-testid="bucket-paid-amount"]`))
			require.Equal(t, tc.promo, webtest.Text(t, ctx, `[data-testid="bucket-promo-amount"]`))
		})
	}
	b.verifyLedger(t)
}
