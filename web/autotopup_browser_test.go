package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAutoTopUpInChromium, on a 390 px screen: the customer signs a WeChat
// Pay agreement in the sandbox (its signing page opened from the portal's
// QR link), sets threshold, tier and cap; spending through the gateway API
// (usage events) takes the balance below
// the threshold and the background jobs top it up once (¥100 and its
// bonus); with the payer's balance then short, the next debit fails after
// its retries, auto top-up pauses and the customer is mailed; the page in
// English shows it, form errors all at once; unsigning in the sandbox (at
// the channel) shows in the portal; signing again with Alipay works.
func TestAutoTopUpInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	smtp := mailtest.NewServer(t)
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase(), webtest.WithJobs(),
		webtest.WithConfig(func(c *config.Config) {
			c.AutoTopUp.MaxAttempts, c.AutoTopUp.RetryBase = 2, 50*time.Millisecond
		}),
		webtest.WithOverrides(func(o *app.Overrides) { o.Mail = smtp.Sender(t) })}, nil)
	b.wx.PapayPlanID = 12535
	b.wx.ContractNotifyURL = b.app.URL + payments.NotifyPathWeChatContract
	b.ali.AgreementNotifyURL = b.app.URL + payments.NotifyPathAlipayAgreement

	ctx := webtest.Browser(t, 180*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	login := "auto-topup@example.com"
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signup"),
		chromedp.WaitVisible(css(`[data-testid="signup-form"]`)),
		chromedp.SendKeys(css(`#f-login`), login),
		chromedp.SendKeys(css(`#f-password`), "payer pass 1"),
		chromedp.SendKeys(css(`#f-password_confirm`), "payer pass 1"),
		chromedp.Click(css(`[data-testid="signup-consent"]`)),
		chromedp.Click(css(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="bucket-paid-amount"]`)),
	))
	bg := context.Background()
	u, err := b.auth.UserByLogin(bg, login)
	require.NoError(t, err)
	acc := u.AccountID
	_, err = b.verify.MarkVerifiedExternally(bg, acc, "browser-test", "test")
	require.NoError(t, err)
	_, err = b.ledger.Credit(bg, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(50000),
		EventType: ledger.EventPurchase, IdempotencyKey: "auto-topup-seed"})
	require.NoError(t, err)
	// Spending goes through the gateway API: the account gets an external
	// id, the platform a live service key, and usage events of a million
	// output tokens (¥8 at deepseek-chat's rate, 8,000 credits) are posted
	// until the balance the API reports is below `below`.
	_, err = b.app.Services.Pricing.EnsureDefault(bg, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	_, secret, err := b.app.Services.Gateway.Keys.Create(bg, ledger.ModeLive, "auto-topup test")
	require.NoError(t, err)
	_, err = b.app.Services.Pool.Exec(bg, `UPDATE ledger_accounts SET external_id = 'auto-topup-1' WHERE id = $1`, acc)
	require.NoError(t, err)
	api := newAPIClient(t, b.app.URL, secret)
	calls := 0
	spendBelow := func(t *testing.T, below int64) {
		t.Helper()
		for range 40 {
			r := api.do(http.MethodGet, "/v1/accounts/auto-topup-1/balance", nil)
			require.Equal(t, http.StatusOK, r.Status, string(r.Body))
			avail, err := decimal.NewFromString(r.JSON(t)["available"].(string))
			require.NoError(t, err)
			if avail.LessThan(decimal.NewFromInt(below)) {
				return
			}
			calls++
			r = api.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{
				"idempotency_key": fmt.Sprintf("call-%d", calls), "account": "auto-topup-1", "model": "deepseek-chat",
				"output_tokens": 1000000, "occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}}})
			require.Equal(t, http.StatusOK, r.Status, string(r.Body))
			require.EqualValues(t, 1, r.JSON(t)["accepted"], string(r.Body))
		}
		t.Fatalf("the balance did not fall below %d", below)
	}
	// waitFor reloads the page until sel shows want.
	waitFor := func(t *testing.T, sel, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/portal/auto-topup"), chromedp.WaitVisible(css(`[data-testid="autotopup-form"]`))))
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('`+sel+`')||{}).textContent||""`))
			if strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				webtest.Screenshot(t, ctx, "autotopup-timeout")
				t.Fatalf("%s shows %q, want %q", sel, got, want)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// Sign in the sandbox, from the link under the QR code.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/portal/auto-topup"),
		chromedp.WaitVisible(css(`[data-testid="autotopup-state-none"]`)),
		chromedp.Click(css(`[data-testid="autotopup-sign-wechat"]`)),
		chromedp.WaitVisible(css(`[data-testid="autotopup-sign-qr"]`)),
	))
	webtest.RequireFitsWidth(t, ctx, 390, "the signing QR (zh-CN)")
	webtest.Screenshot(t, ctx, "autotopup-sign-390-zh-CN")
	signURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="autotopup-sign-link"]').href`))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(signURL, b.simURL+"/sign/wechat/"), signURL)
	qr, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="autotopup-sign-qr"]').src`))
	require.NoError(t, err)
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(qr, "data:image/png;base64,"))
	require.NoError(t, err)
	require.Equal(t, signURL, decodeQR(t, png), "the QR code carries the signing page")
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(signURL),
		chromedp.Click(css(`[data-testid="paysim-sign"]`)),
		chromedp.WaitVisible(css(`[data-testid="paysim-unsign"]`)),
	))
	waitFor(t, `[data-testid="autotopup-state"]`, "已签约")

	// Threshold 20,000 credits, ¥100 a time, ¥300 a month.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`[data-testid="autotopup-threshold"]`), "20000"),
		chromedp.SetValue(css(`[data-testid="autotopup-tier"]`), "100"),
		chromedp.SetValue(css(`[data-testid="autotopup-cap"]`), "300"),
		chromedp.Click(css(`[data-testid="autotopup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="autotopup-history-settings_changed"]`)),
	))

	// Spend below the threshold: one top-up, credited with its bonus.
	spendBelow(t, 20000) // 50,000 − 4 × 8,000 = 18,000 left
	waitFor(t, `[data-testid="autotopup-run-state"]`, "已到账")
	var n int
	require.NoError(t, b.app.Services.Pool.QueryRow(bg, `SELECT count(*) FROM payment_orders WHERE account_id = $1 AND pay_mode = 'agreement'`, acc).Scan(&n))
	require.Equal(t, 1, n, "one crossing, one top-up")
	bal, err := b.ledger.Balance(bg, acc)
	require.NoError(t, err)
	require.Equal(t, "138000", bal.Available.String(), "18,000 + ¥100 (100,000) + its 20 % bonus")
	webtest.Screenshot(t, ctx, "autotopup-credited-390-zh-CN")

	// The payer's balance is short: the next debit fails twice, then pauses.
	require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, agreementNo(t, b, acc), paysim.FailInsufficientFunds))
	spendBelow(t, 20000)
	waitFor(t, `[data-testid="autotopup-state"]`, "已暂停")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="autotopup-pause-reason"]`), "扣款多次未成功")
	require.Eventually(t, func() bool {
		for _, m := range smtp.Messages() {
			if strings.Contains(m.Subject, "自动充值已暂停") && strings.Contains(strings.Join(m.To, ","), login) {
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "the customer is mailed")

	// In English: the state, and every form error at once.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/lang/en"),
		chromedp.Navigate(b.app.URL+"/portal/auto-topup"),
		chromedp.WaitVisible(css(`[data-testid="autotopup-resume"]`)),
		chromedp.SetValue(css(`[data-testid="autotopup-threshold"]`), "0"),
		chromedp.SetValue(css(`[data-testid="autotopup-cap"]`), "1"),
		chromedp.Click(css(`[data-testid="autotopup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="error-threshold"]`)),
	))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="autotopup-state"]`), "Paused")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-threshold"]`), "Enter a threshold above 0.")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-monthly_cap"]`), "cannot be below the top-up amount of ¥100.00")
	require.Contains(t, webtest.Text(t, ctx, `h1`), "Auto top-up")
	webtest.RequireFitsWidth(t, ctx, 390, "the auto top-up page (en)")
	webtest.Screenshot(t, ctx, "autotopup-paused-390-en")

	// Unsigned at the channel (in the sandbox): the portal shows it.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(signURL),
		chromedp.Click(css(`[data-testid="paysim-unsign"]`)),
		chromedp.WaitVisible(css(`[data-testid="paysim-message"]`)),
	))
	waitFor(t, `[data-testid="autotopup-state"]`, "Ended")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`[data-testid="autotopup-sign-wechat"]`))))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="autotopup-history"]`), "Agreement ended")
	webtest.RequireFitsWidth(t, ctx, 390, "the auto top-up page after unsigning (en)")
	webtest.Screenshot(t, ctx, "autotopup-ended-390-en")

	// Sign again with Alipay: the link opens Alipay's gateway (the signed
	// agreement.page.sign request), which shows its signing page.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="autotopup-sign-alipay"]`)),
		chromedp.WaitVisible(css(`[data-testid="autotopup-sign-qr"]`)),
	))
	aliURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="autotopup-sign-link"]').href`))
	require.NoError(t, err)
	require.Contains(t, aliURL, "method=alipay.user.agreement.page.sign")
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(aliURL),
		chromedp.Click(css(`[data-testid="paysim-sign"]`)),
		chromedp.WaitVisible(css(`[data-testid="paysim-unsign"]`)),
	))
	waitFor(t, `[data-testid="autotopup-state"]`, "Signed, auto top-up on")
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="autotopup-agreement"]`), "Alipay")
	b.verifyLedger(t)
}

// agreementNo is the account's agreement number.
func agreementNo(t *testing.T, b *payBundle, acc int64) string {
	t.Helper()
	a, err := b.app.Services.AutoTopUp.Current(context.Background(), acc)
	require.NoError(t, err)
	return a.AgreementNo
}
