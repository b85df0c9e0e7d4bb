package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/refcode"
)

func topUpForm(tier, custom, channel string) url.Values {
	return url.Values{"tier": {tier}, "custom": {custom}, "channel": {channel}}
}

// TestTopUpFormErrors: every way the form can be wrong re-renders it (422)
// with the message on the field at fault, in the customer's language, and
// creates no order.
func TestTopUpFormErrors(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "form-errors@example.com", true)
	p := c.Get("/portal/topup")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 4, p.Doc.Find(`[data-testid="tier"]`).Length())
	require.Contains(t, p.TestID("tier-bonus"), "+20,000")
	require.Empty(t, p.TestID("topup-verify-first"), "a verified account is not sent to verification")

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		text  string
	}{
		{"NoAmount", topUpForm("", "", "wechat"), "tier", "请选择或填写充值金额"},
		{"EmptyCustomAmount", topUpForm("custom", "", "wechat"), "custom", "请选择或填写充值金额"},
		{"BadAmount", topUpForm("custom", "12abc", "wechat"), "custom", "金额格式不正确"},
		{"NegativeAmount", topUpForm("custom", "-50", "alipay"), "custom", "充值金额须在 ¥10.00 到 ¥50,000.00 之间"},
		{"HugeAmountSaysTheRange", topUpForm("custom", "99999999999999999999999", "wechat"), "custom", "充值金额须在 ¥10.00 到 ¥50,000.00 之间"},
		{"HugeTransferSaysItsRange", topUpForm("custom", "９９９９９９９９９９９９９９９", "bank_transfer"), "custom", "充值金额须在 ¥10.00 到 ¥1,000,000.00 之间"},
		{"FractionOfAFen", topUpForm("custom", "10.005", "wechat"), "custom", "金额格式不正确"},
		{"BelowMinimum", topUpForm("custom", "9.99", "wechat"), "custom", "充值金额须在 ¥10.00 到 ¥50,000.00 之间"},
		{"AboveQRMaximum", topUpForm("custom", "50000.01", "alipay"), "custom", "充值金额须在 ¥10.00 到 ¥50,000.00 之间"},
		{"AboveTransferMaximum", topUpForm("custom", "1000000.01", "bank_transfer"), "custom", "充值金额须在 ¥10.00 到 ¥1,000,000.00 之间"},
		{"NotATier", topUpForm("12345", "", "wechat"), "tier", "请选择列出的充值金额之一"},
		{"TypedAmountWinsOverTier", topUpForm("10000", "5", "wechat"), "custom", "充值金额须在 ¥10.00 到 ¥50,000.00 之间"},
		{"UnknownChannel", topUpForm("10000", "", "paypal"), "channel", "不支持该支付方式"},
		{"NoChannel", topUpForm("10000", "", ""), "channel", "请选择支付方式"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.PostForm("/portal/topup", tc.form)
			require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
			require.Contains(t, p.TestID("error-"+tc.field), tc.text)
			require.Equal(t, "/portal/topup", p.URL.Path)
		})
	}
	t.Run("InEnglish", func(t *testing.T) {
		c.Header.Set("Accept-Language", "en")
		defer c.Header.Del("Accept-Language")
		p := c.PostForm("/portal/topup", topUpForm("custom", "5", "wechat"))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, "The amount must be between ¥10.00 and ¥50,000.00.", p.TestID("error-custom"))
		require.Equal(t, "5", p.Doc.Find(`[data-testid="custom-amount"]`).AttrOr("value", ""), "the form keeps what was typed")
	})
	orders, err := b.pay.Orders(context.Background(), acc, 10)
	require.NoError(t, err)
	require.Empty(t, orders, "no invalid form created an order")
}

// TestTopUpNeedsVerification: an unverified account sees why and is sent
// to the verification page when it tries to pay; nothing is created.
func TestTopUpNeedsVerification(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "unverified@example.com", false)
	p := c.Get("/portal/topup")
	require.Contains(t, p.TestID("topup-verify-first"), "实名认证")
	c.FollowRedirects = false
	p = c.PostForm("/portal/topup", topUpForm("10000", "", "wechat"))
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/portal/verification?next=%2Fportal%2Ftopup", p.Header.Get("Location"))
	p = c.HTMX(http.MethodPost, "/portal/topup", topUpForm("10000", "", "wechat"))
	require.Equal(t, "/portal/verification?next=%2Fportal%2Ftopup", p.Header.Get("HX-Redirect"))
	orders, err := b.pay.Orders(context.Background(), acc, 10)
	require.NoError(t, err)
	require.Empty(t, orders)
}

// TestBankTransferOrderPage: a transfer order shows the corporate account,
// the amount, a valid reference code for the memo, its expiry and the
// steps; the orders page lists it; another customer cannot open it.
func TestBankTransferOrderPage(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "transfer@example.com", true)
	p := c.PostForm("/portal/topup", topUpForm("custom", "200000", "bank_transfer"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.True(t, strings.HasPrefix(p.URL.Path, "/portal/orders/T"), p.URL.Path)
	no := p.TestID("transfer-order-no")
	o := b.order(t, no)
	require.Equal(t, acc, o.AccountID)
	require.Equal(t, payments.ChannelBankTransfer, o.Channel)
	require.EqualValues(t, 20000000, o.AmountFen, "above the QR limit, within the transfer limit")

	require.Equal(t, testBank.Name, p.TestID("bank-name"))
	require.Equal(t, testBank.Bank, p.TestID("bank-bank"))
	require.Equal(t, testBank.Branch, p.TestID("bank-branch"))
	require.Equal(t, testBank.Number, p.TestID("bank-number"))
	require.Equal(t, "¥200,000.00", p.TestID("transfer-amount"))
	ref := p.TestID("transfer-reference")
	require.Equal(t, o.ReferenceDisplay(), ref)
	require.True(t, refcode.Valid(refcode.Normalize(ref)), "the memo code carries a valid check character")
	require.Contains(t, p.TestID("transfer-instructions"), ref)
	require.NotEmpty(t, p.TestID("transfer-expires"))
	require.Equal(t, "待支付", p.TestID("transfer-state"))
	require.Contains(t, p.TestID("transfer-you-get"), "200,000,000 点", "every number with its unit")

	p = c.Get("/portal/orders")
	row := p.Doc.Find(`[data-testid="order-row"][data-order="` + no + `"]`)
	require.Equal(t, 1, row.Length())
	require.Equal(t, "pending", row.AttrOr("data-state", ""))
	require.Contains(t, row.Text(), ref)
	require.Equal(t, "¥200,000.00", strings.TrimSpace(row.Find(`[data-testid="order-amount"]`).Text()))

	other, _ := b.customer(t, "someone-else@example.com", true)
	require.Equal(t, http.StatusNotFound, other.Get("/portal/orders/"+no).Status)
	require.Equal(t, http.StatusNotFound, other.Get("/portal/orders/"+no+"/status").Status)
}

// TestQRCheckoutCreatesAnOpenOrder: choosing a tier and WeChat Pay opens
// the checkout with the code, amount, order number and time left; the
// PNG is served only to its owner; cancelling closes it.
func TestQRCheckoutCreatesAnOpenOrder(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, _ := b.customer(t, "checkout@example.com", true)
	p := c.PostForm("/portal/topup", topUpForm("3000", "", "wechat"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := p.TestID("checkout-order-no")
	require.Equal(t, "¥30.00", p.TestID("checkout-amount"))
	require.Equal(t, "微信支付", p.TestID("checkout-channel"))
	require.Regexp(t, `^1[45]:\d\d$`, p.TestID("checkout-remaining"))
	sec := p.Doc.Find(`[data-testid="checkout"]`)
	require.Equal(t, "/portal/orders/"+no+"/status", sec.AttrOr("hx-get", ""))
	require.Equal(t, "every 2s", sec.AttrOr("hx-trigger", ""))
	require.Empty(t, p.TestID("checkout-open-app"), "a desktop browser scans the code")
	cancel := p.Doc.Find(`[data-testid="checkout-cancel"]`).Closest("form").AttrOr("data-confirm", "")
	require.Contains(t, cancel, "¥30.00", "cancelling asks first, naming the amount")
	require.Contains(t, cancel, no)

	png := c.Get("/portal/orders/" + no + "/qr.png")
	require.Equal(t, http.StatusOK, png.Status)
	require.Equal(t, "image/png", png.Header.Get("Content-Type"))
	require.Equal(t, b.order(t, no).QRCode, decodeQR(t, []byte(png.Body)))
	other, _ := b.customer(t, "nosy@example.com", true)
	require.Equal(t, http.StatusNotFound, other.Get("/portal/orders/"+no+"/qr.png").Status)

	t.Run("PhoneGetsAnAppLink", func(t *testing.T) {
		c.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")
		defer c.Header.Del("User-Agent")
		p := c.Get("/portal/orders/" + no)
		require.Equal(t, b.order(t, no).QRCode, p.Doc.Find(`[data-testid="checkout-open-app"]`).AttrOr("href", ""))
	})

	p = c.HTMX(http.MethodGet, "/portal/orders/"+no+"/status", nil)
	require.Equal(t, "pending", p.Doc.Find(`[data-testid="checkout"]`).AttrOr("data-state", ""))
	require.Zero(t, p.Doc.Find("nav").Length(), "htmx gets the region, not the page")

	p = c.PostForm("/portal/orders/"+no+"/close", nil)
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("checkout-closed"))
	require.Empty(t, p.Doc.Find(`[data-testid="checkout"]`).AttrOr("hx-trigger", ""), "a closed order stops polling")
	require.Equal(t, payments.StateClosed, b.order(t, no).State)
	require.Equal(t, http.StatusNotFound, c.Get("/portal/orders/"+no+"/qr.png").Status)
}

// TestOrdersPageShowsRefunds: a refund of part of a paid top-up shows on
// the orders page with its state.
func TestOrdersPageShowsRefunds(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "refunds@example.com", true)
	ctx := context.Background()
	o, err := b.pay.CreateQROrder(ctx, acc, 30000, payments.ChannelAlipay)
	require.NoError(t, err)
	_, err = b.sim.Confirm(ctx, "alipay", o.OrderNo)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)
	_, err = b.pay.Refund(ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 12000, IdempotencyKey: "r1", Reason: "test", Actor: "staff:test"})
	require.NoError(t, err)

	p := c.Get("/portal/orders")
	row := p.Doc.Find(`[data-testid="order-row"][data-order="` + o.OrderNo + `"]`)
	require.Equal(t, "partially_refunded", row.AttrOr("data-state", ""))
	require.Equal(t, "部分退款", strings.TrimSpace(row.Find(`[data-testid="order-state"]`).Text()))
	require.Equal(t, "¥120.00", strings.TrimSpace(row.Find(`[data-testid="order-refunded"]`).Text()))
	requireCredits(t, "180000", b.balance(t, acc).ByKind[ledger.LotPaid], "paid credit after the refund")
	b.verifyLedger(t)

	// A paid order has its receipt; an unpaid one and another account's do not.
	href, ok := row.Find(`[data-testid="order-receipt"]`).Attr("href")
	require.True(t, ok, "a paid order links its receipt")
	r := c.Get(href)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "application/pdf", r.Header.Get("Content-Type"))
	text := pdfToText(t, []byte(r.Body))
	for _, want := range []string{"收", "据", o.OrderNo, "¥300.00", "叁佰元整", "已退款", "¥120.00", "支付宝"} {
		require.Contains(t, text, want)
	}
	open, err := b.pay.CreateQROrder(ctx, acc, 1000, payments.ChannelWeChat)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, c.Get("/portal/orders/"+open.OrderNo+"/receipt.pdf").Status, "no receipt before the money arrives")
	other, _ := b.customer(t, "refunds-other@example.com", true)
	require.Equal(t, http.StatusNotFound, other.Get(href).Status, "another account's receipt is not found")
}

// TestCustomAmountCheckout: a custom amount within the limits (typed with
// the ¥ sign and a separator) opens an Alipay checkout for exactly that
// amount, without a bonus.
func TestCustomAmountCheckout(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, "custom@example.com", true)
	p := c.PostForm("/portal/topup", topUpForm("10000", "¥1,088.50", "alipay"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "¥1,088.50", p.TestID("checkout-amount"))
	require.Equal(t, "支付宝", p.TestID("checkout-channel"))
	o := b.order(t, p.TestID("checkout-order-no"))
	require.Equal(t, acc, o.AccountID)
	require.EqualValues(t, 108850, o.AmountFen)
	requireCredits(t, "1088500", o.Credits, "credits")
	require.True(t, o.BonusCredits.IsZero(), "no bonus on a custom amount")

	t.Run("FullWidthDigits", func(t *testing.T) {
		p := c.PostForm("/portal/topup", topUpForm("custom", "１，０８８．５", "wechat"))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "¥1,088.50", p.TestID("checkout-amount"))
		require.EqualValues(t, 108850, b.order(t, p.TestID("checkout-order-no")).AmountFen)
	})
}

// TestExpiredCheckoutSaysSo: past its expiry an unpaid order says it has
// expired (and keeps polling: a late payment still arrives); once the sync
// job has closed it, the checkout says it is closed and stops polling.
func TestExpiredCheckoutSaysSo(t *testing.T) {
	t.Parallel()
	b := setupPay(t, func(_ *payments.Channels, o *payments.Options) {
		o.OrderTTL = time.Second
		o.SyncDelay = time.Millisecond
	})
	c, _ := b.customer(t, "expired@example.com", true)
	p := c.PostForm("/portal/topup", topUpForm("3000", "", "alipay"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := p.TestID("checkout-order-no")
	time.Sleep(1100 * time.Millisecond)

	p = c.HTMX(http.MethodGet, "/portal/orders/"+no+"/status", nil)
	require.Contains(t, p.TestID("checkout-expired"), "已过期")
	require.Empty(t, p.TestID("checkout-remaining"))
	require.Equal(t, "every 2s", p.Doc.Find(`[data-testid="checkout"]`).AttrOr("hx-trigger", ""))

	// The sync job sees every open order of the test database; other
	// tests' orders are not this test's business, so only ours is checked.
	_, _ = b.pay.SyncPending(context.Background(), 1000)
	require.Equal(t, payments.StateClosed, b.order(t, no).State)
	p = c.HTMX(http.MethodGet, "/portal/orders/"+no+"/status", nil)
	require.Contains(t, p.TestID("checkout-closed"), "已关闭或已过期")
	require.Empty(t, p.Doc.Find(`[data-testid="checkout"]`).AttrOr("hx-trigger", ""))
	p = c.Get("/portal/orders")
	require.Equal(t, "已关闭", strings.TrimSpace(p.Doc.Find(`[data-order="`+no+`"] [data-testid="order-state"]`).Text()))
}

// Without a receiving account, bank transfer is not offered, an order for
// one is refused, and the back office says what is missing.
func TestBankTransferNeedsAReceivingAccount(t *testing.T) {
	t.Parallel()
	b := setupPay(t, func(_ *payments.Channels, o *payments.Options) { o.BankAccount = payments.BankAccount{} })
	c, acc := b.customer(t, "no-bank@example.com", true)
	p := c.Get("/portal/topup")
	require.Empty(t, p.Doc.Find(`[data-testid="channel-bank_transfer"]`).Nodes, "no bank transfer to choose")
	require.NotEmpty(t, p.Doc.Find(`[data-testid="channel-wechat"]`).Nodes)
	p = c.PostForm("/portal/topup", topUpForm("custom", "200000", "bank_transfer"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-channel"))
	orders, err := b.pay.Orders(context.Background(), acc, 10)
	require.NoError(t, err)
	require.Empty(t, orders)

	admin := b.staffClient(t, "no-bank-admin@example.com", auth.RoleAdmin)
	for _, lang := range []string{"zh-CN", "en"} {
		admin.Header.Set("Accept-Language", lang)
		require.Contains(t, admin.Get("/admin").TestID("bank-missing"), "BANK_ACCOUNT_NAME", lang)
	}
	configured := setupPay(t).staffClient(t, "bank-admin@example.com", auth.RoleAdmin)
	require.Empty(t, configured.Get("/admin").TestID("bank-missing"), "no warning once it is configured")
}
