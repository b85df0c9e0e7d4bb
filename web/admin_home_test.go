package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// The back-office home counts the work waiting in the queues each role
// reaches, links each count to its queue, and shows finance today's money.
func TestAdminHomeCountsWorkWaiting(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)

	finance := b.staffClient(t, "home-finance@example.com", auth.RoleFinance)
	p := finance.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	href, _ := p.Doc.Find(`[data-testid="home-queue-admin.statements"] a`).Attr("href")
	require.Equal(t, "/admin/statements", href)
	require.Regexp(t, `^\d+$`, p.Doc.Find(`[data-testid="home-queue-admin.statements"] [data-testid="home-queue-count"]`).Text())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-queue-admin.refunds"]`).Length())
	href, _ = p.Doc.Find(`[data-testid="home-queue-admin.reviews"] a`).Attr("href")
	require.Equal(t, "/admin/reviews", href)
	require.Regexp(t, `^\d+$`, p.Doc.Find(`[data-testid="home-queue-admin.reviews"] [data-testid="home-queue-count"]`).Text())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-money-in"]`).Length())
	require.Contains(t, p.Doc.Find(`[data-testid="home-money-out"]`).Text(), "¥")

	support := b.staffClient(t, "home-support@example.com", auth.RoleSupport)
	p = support.Get("/admin")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="home-queue-admin.approvals"]`).Length())
	require.Equal(t, 0, p.Doc.Find(`[data-testid="home-queue-admin.statements"]`).Length(), "support does not reach the statements queue")
	require.Equal(t, 0, p.Doc.Find(`[data-testid="home-queue-admin.reviews"]`).Length(), "support does not reach the review queue")
	require.Equal(t, 0, p.Doc.Find(`[data-testid="admin-home-money"]`).Length(), "support does not see the money")
}

// TestAdminHomeOnAPhoneInChromium: on a 390 px phone, in Chinese and in
// English, finance sees the waiting work — the two payment orders under
// review counted and linked to their queue — and today's money without
// scrolling sideways.
func TestAdminHomeOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine. A database
	// of its own: the review queue counts the whole platform's orders.
	b := setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, nil)
	_, acc := b.customer(t, uniqEmail("home-review"), false)
	b.orderUnderReview(t, acc, 1000)
	b.orderUnderReview(t, acc, 2000)
	const pw = "staff password 1"
	email := uniqEmail("home-phone")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Home finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), email),
		chromedp.SendKeys(css(`#f-password`), pw),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Navigate(b.app.URL+"/admin"),
		chromedp.WaitVisible(css(`[data-testid="admin-home-queues"]`)),
	))
	reviews := `[data-testid="home-queue-admin.reviews"]`
	for _, lang := range []struct{ code, waiting, reviews string }{{"zh-CN", "待处理工作", "待复核订单: 2"}, {"en", "Work waiting", "Orders under review: 2"}} {
		if lang.code == "en" {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/en"), chromedp.Navigate(b.app.URL+"/admin"),
				chromedp.WaitVisible(css(`[data-testid="admin-home-queues"]`))))
		}
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="admin-home-queues"]`), lang.waiting)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="home-money-in"]`), "¥")
		require.Equal(t, "2", webtest.Text(t, ctx, reviews+` [data-testid="home-queue-count"]`), lang.code)
		require.Equal(t, lang.reviews, webtest.Text(t, ctx, reviews+` a`), lang.code)
		href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+reviews+` a').getAttribute('href')`))
		require.NoError(t, err)
		require.Equal(t, "/admin/reviews", href)
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the back-office home scrolls sideways on a phone (%s)", lang.code)
		webtest.Screenshot(t, ctx, "admin-home-390-"+lang.code)
	}
}
