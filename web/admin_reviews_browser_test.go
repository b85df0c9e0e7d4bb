package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAdminResolvesReviewOnAPhone: a WeChat Pay order closes, and the
// payment arrives anyway, so it waits in needs_review. Finance, on a
// 390 px phone in Chinese and English, finds it in the review queue with
// its account, channel, amounts and why; a resolve without a reason is
// refused on the form; with one it is credited, leaves the queue and is
// audited once. A repeat (the double click) finds it settled and writes
// nothing. Nothing leaves the screen.
func TestAdminResolvesReviewOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine. A database
	// of its own: the review queue is the whole platform's.
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	ctx := context.Background()
	_, acc := b.customer(t, uniqEmail("review"), false)
	o := b.orderUnderReview(t, acc, 12345)

	const pw = "staff password 1"
	finance := uniqEmail("review-finance")
	staff, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	row := fmt.Sprintf(`[data-testid="review-%s"]`, o.OrderNo)
	for _, lang := range []struct{ code, channel, why, menu string }{
		{"zh-CN", "微信支付", "订单关闭后才付款", "待复核订单"},
		{"en", "WeChat Pay", "Paid after the order had closed", "Orders under review"},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/admin/reviews"),
			chromedp.WaitVisible(css(row))))
		require.Equal(t, o.OrderNo, webtest.Text(t, bctx, row+` [data-testid="review-order"]`))
		require.Equal(t, fmt.Sprint(acc), webtest.Text(t, bctx, row+` [data-testid="review-account"]`))
		require.Equal(t, lang.channel, webtest.Text(t, bctx, row+` [data-testid="review-channel"]`))
		require.Contains(t, webtest.Text(t, bctx, row+` [data-testid="review-amount"]`), "123.45")
		require.Equal(t, lang.why, webtest.Text(t, bctx, row+` [data-testid="review-why"]`))
		require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(css(row+` [data-testid="review-credit"]`)),
			chromedp.WaitVisible(css(row+` [data-testid="review-refund"]`))))
		href, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).getAttribute('href')`, row+` [data-testid="review-account"]`)))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("/admin/customers/%d", acc), href)
		menu, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('a[href="/admin/reviews"]')].map(a => a.textContent.trim()).join('|')`))
		require.NoError(t, err)
		require.Contains(t, menu, lang.menu, "the finance menu links the queue (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the review queue (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-reviews-390-"+lang.code)
	}

	// An outcome the form does not send is refused; nothing moves.
	forger := webtest.NewClient(t, b.app.URL)
	forger.FollowRedirects = false
	forger.Get("/signin")
	require.Equal(t, http.StatusSeeOther, forger.PostForm("/signin", url.Values{"login": {finance}, "password": {pw}}).Status)
	forger.Get("/admin/reviews")
	require.Equal(t, http.StatusBadRequest, forger.PostForm("/admin/reviews/"+o.OrderNo,
		url.Values{"outcome": {"both"}, "reason": {"forged"}}).Status)
	require.Equal(t, payments.StateNeedsReview, b.order(t, o.OrderNo).State)

	// A blank reason is refused by the domain, not only by the browser.
	actor := backoffice.Actor{User: staff, IP: "127.0.0.1"}
	_, _, err = b.pay.ResolveReviewAudited(ctx, o.OrderNo, true, actor, "  ")
	require.ErrorIs(t, err, backoffice.ErrReasonRequired)
	require.Equal(t, payments.StateNeedsReview, b.order(t, o.OrderNo).State)

	require.NoError(t, chromedp.Do(bctx, chromedp.SendKeys(css(row+` [data-testid="review-reason"]`), "客户确认关闭后付款"),
		chromedp.Click(css(row+` [data-testid="review-credit"]`)), chromedp.WaitVisible(css(`[data-testid="reviews-empty"]`))))
	require.Equal(t, payments.StatePaid, b.order(t, o.OrderNo).State)
	asked := webtest.Dialogs(bctx)
	require.NotEmpty(t, asked)
	require.Contains(t, asked[len(asked)-1], "123.45", "a money action asks first, naming the amount")
	webtest.RequireFitsWidth(t, bctx, 390, "the review queue once resolved")

	audits := func() int {
		var n int
		require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = $1 AND detail->>'order_no' = $2
AND actor_id = $3 AND reason = '客户确认关闭后付款' AND detail->>'outcome' = 'credited'`,
			string(payments.ActionReviewResolved), o.OrderNo, staff.ID).Scan(&n))
		return n
	}
	require.Equal(t, 1, audits())

	// The double click: settled already, so nothing more and no audit row.
	_, resolved, err := b.pay.ResolveReviewAudited(ctx, o.OrderNo, true, actor, "again")
	require.NoError(t, err)
	require.False(t, resolved)
	var n int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = $1 AND detail->>'order_no' = $2`,
		string(payments.ActionReviewResolved), o.OrderNo).Scan(&n))
	require.Equal(t, 1, n)
	// The other outcome on a credited order is refused, not applied.
	_, _, err = b.pay.ResolveReviewAudited(ctx, o.OrderNo, false, actor, "refund it")
	require.ErrorIs(t, err, payments.ErrInvalidTransition)
	require.Equal(t, 1, audits())
	b.verifyLedger(t)
}
