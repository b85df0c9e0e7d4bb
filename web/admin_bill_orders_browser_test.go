package web_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAdminListsBillPaymentsOnAPhone: an enterprise pays its credit line
// bill by a WeChat Pay QR order, and a refund request names that order.
// Finance, on a 390 px phone in Chinese and English, sees the order on the
// customer page labelled as paying the bill, linked to the bill's row in
// the credit line panel, and sees the refund request labelled the same
// way, without the approve button (a bill payment bought no credits to
// refund) but with reject. Nothing leaves the screen.
func TestAdminListsBillPaymentsOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine. A database
	// of its own: the refund queue is the whole platform's.
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	ctx := context.Background()
	_, err := b.app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB) // a database of its own has none
	require.NoError(t, err)
	lines := b.app.Services.CreditLines
	// The billing run's clock is 40 days ahead, so the period closes while
	// the channels' signatures stay valid on the server's clock.
	ahead := creditline.New(b.app.Pool, b.ledger, creditline.Options{Now: func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }})
	_, u := b.register(t, uniqEmail("bill-orders"), "账单订单企业")
	ent := b.enterprise(t, u.ID, "账单订单企业")
	b.verified(t, ent)
	require.NoError(t, db.InTx(ctx, b.app.Pool, func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(ctx, tx, creditline.Spec{AccountID: ent, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5},
			"staff:1", "contract", nil)
		return err
	}))
	_, err = b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: ent, Amount: decimal.RequireFromString("123450"),
		IdempotencyKey: "bill-orders-1", Model: "deepseek-chat"})
	require.NoError(t, err)
	bill, closed, err := ahead.CloseLine(ctx, ent)
	require.NoError(t, err)
	require.True(t, closed)
	o, _, err := b.pay.CreateBillOrder(ctx, ent, bill.ID, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	_, err = b.sim.Confirm(ctx, "wechat", o.OrderNo)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.order(t, o.OrderNo).State == payments.StatePaid }, 10*time.Second, 50*time.Millisecond)
	// Filing a refund request for a bill payment is refused; one filed
	// before that rule (written here directly) must not be approvable as a
	// top-up refund.
	_, err = b.app.Services.Backoffice.RequestOrderRefund(ctx, ent, o.OrderNo, decimal.New(o.AmountFen, -2), "付了两次？", "127.0.0.1")
	require.ErrorIs(t, err, backoffice.ErrNotRefundable)
	var req backoffice.RefundRequest
	require.NoError(t, b.app.Pool.QueryRow(ctx, `INSERT INTO refund_requests (account_id, order_no, amount, reason, requested_at)
	VALUES ($1, $2, $3, '付了两次？', now()) RETURNING id`, ent, o.OrderNo, decimal.New(o.AmountFen, -2)).Scan(&req.ID))

	const pw = "staff password 1"
	finance := uniqEmail("bill-orders-finance")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	customer := fmt.Sprintf("/admin/customers/%d", ent)
	anchor := "credit-bill-" + strconv.FormatInt(bill.ID, 10)
	period := creditline.PeriodName(bill.PeriodStart, bill.PeriodEnd)
	href := func(sel string) string {
		t.Helper()
		h, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).getAttribute('href')`, sel)))
		require.NoError(t, err)
		return h
	}
	for _, lang := range []struct{ code, label, paid, note string }{
		{"zh-CN", "支付账单 " + period, "已付款", "该订单支付的是授信账单"},
		{"en", "Pays bill " + period, "Paid", "This order paid a credit line bill"},
	} {
		orderBill := fmt.Sprintf(`[data-testid="order-%s"] [data-testid="order-bill"]`, o.OrderNo)
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+customer),
			chromedp.WaitVisible(css(orderBill))))
		require.Equal(t, lang.label, webtest.Text(t, bctx, orderBill), "the customer page's order list (%s)", lang.code)
		require.Equal(t, customer+"#"+anchor, href(orderBill))
		webtest.RequireFitsWidth(t, bctx, 390, "the customer page with a bill payment (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-bill-order-390-"+lang.code)
		// The link lands on the bill's row in the credit line panel.
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(orderBill)), chromedp.WaitVisible(css("#"+anchor))))
		hash, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.hash`))
		require.NoError(t, err)
		require.Equal(t, "#"+anchor, hash)
		require.Equal(t, lang.paid, webtest.Text(t, bctx, "#"+anchor+` [data-testid="credit-bill-status"]`), "the bill it paid (%s)", lang.code)

		article := fmt.Sprintf(`[data-testid="refund-%d"]`, req.ID)
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/admin/refunds"),
			chromedp.WaitVisible(css(article+` [data-testid="order-bill"]`))))
		require.Equal(t, lang.label, webtest.Text(t, bctx, article+` [data-testid="order-bill"]`), "the refund queue (%s)", lang.code)
		require.Equal(t, customer+"#"+anchor, href(article+` [data-testid="order-bill"]`))
		approve, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, article+` [data-testid="refund-approve"]`)))
		require.NoError(t, err)
		require.False(t, approve, "a bill payment is not approved as a top-up refund (%s)", lang.code)
		require.True(t, strings.HasPrefix(webtest.Text(t, bctx, article+` [data-testid="refund-bill-note"]`), lang.note), "why not (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(css(article+` [data-testid="refund-reject"]`))))
		webtest.RequireFitsWidth(t, bctx, 390, "the refund queue with a bill payment (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-bill-order-refund-390-"+lang.code)
	}
}
