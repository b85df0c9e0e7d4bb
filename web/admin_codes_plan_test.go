package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPlanRedemptionCodesInTheBackOfficeAndPortal: finance generates codes
// granting Basic for 14 days (every wrong field reported at once); a
// customer redeems one and has Basic until then, non-renewing, with the
// month's plan credits; a second code is refused while the plan is in
// force and stays unspent.
func TestPlanRedemptionCodesInTheBackOfficeAndPortal(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t, webtest.WithOwnDatabase()) // it publishes the demo plans
	ctx := context.Background()
	_, err := b.app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	finance := b.staff(t, "plan-codes", auth.RoleFinance)
	p := finance.Get("/admin/codes")
	require.Equal(t, 1, p.Doc.Find(`[data-testid="batch-plan"] option[value="basic"]`).Length(), "the catalogue's plans are offered")

	bad := finance.PostForm("/admin/codes", url.Values{"campaign": {"试用"}, "plan": {"basic"}, "plan_days": {"400"}, "amount": {"100"}, "count": {"0"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Equal(t, "套餐天数须为 1–366 天。", bad.TestID("error-plan_days"))
	require.Equal(t, "兑换套餐的兑换码不赠送点数，请留空。", bad.TestID("error-amount"))
	require.NotEmpty(t, bad.TestID("error-count"))

	p = finance.PostForm("/admin/codes", url.Values{"campaign": {"基础版试用"}, "plan": {"basic"}, "plan_days": {"14"}, "count": {"2"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	codes := p.Doc.Find(`[data-testid="code"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	require.Len(t, codes, 2)
	require.Contains(t, finance.Get("/admin/codes").Text(`[data-testid="batches"]`), "套餐 basic × 14 天")

	cust, u := b.register(t, uniqEmail("redeem-plan"), "Plan redeemer")
	cust.Get("/portal/redeem")
	r := cust.PostForm("/portal/redeem", url.Values{"code": {codes[0]}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	cur, err := b.app.Services.Subscriptions.Current(ctx, u.AccountID)
	require.NoError(t, err)
	require.Equal(t, "basic", cur.PlanCode)
	require.Equal(t, plans.Canceled, cur.State, "a code's plan does not renew")
	require.Equal(t, "兑换成功：已开通「基础版」，有效期至 "+format.Time(cur.TermEnd)+"（北京时间）。 本月套餐额度 20,000查看套餐",
		strings.Join(strings.Fields(r.TestID("redeem-plan-done")), " "))
	require.Equal(t, 14*24, int(cur.TermEnd.Sub(cur.Anchor).Hours()), "14 days")
	p = cust.Get("/portal/plans")
	require.Equal(t, "基础版", p.TestID("current-plan-name"))

	again := cust.PostForm("/portal/redeem", url.Values{"code": {codes[1]}})
	require.Equal(t, http.StatusUnprocessableEntity, again.Status)
	require.Contains(t, again.TestID("error-code"), "您已有生效中的套餐")
	require.Contains(t, finance.Get("/admin/codes").Text(`[data-testid="batches"]`), "1 / 2", "the refused code is not spent")
}
