package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// analyticsSeed charges a customer for a model of its own, large enough to
// lead today's rankings, and refreshes the dashboard's roll-ups.
func analyticsSeed(t *testing.T, b *adminBundle) string {
	t.Helper()
	ctx := context.Background()
	_, cust := b.register(t, uniqEmail("analytics"), "Analytics Customer")
	_, err := b.verify.MarkVerifiedExternally(ctx, cust.AccountID, uniqEmail("analytics-kyc"), "test")
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: cust.AccountID, Kind: ledger.LotPaid, Amount: decimal.RequireFromString("90000000"),
		IdempotencyKey: uniqEmail("analytics-credit"), Actor: "test"})
	require.NoError(t, err)
	model := strings.TrimSuffix(uniqEmail("model"), "@example.com")
	_, err = b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: cust.AccountID, Amount: decimal.RequireFromString("80000000"), Model: model,
		IdempotencyKey: uniqEmail("analytics-charge"), Detail: json.RawMessage(`{"cost":"1.5"}`)})
	require.NoError(t, err)
	_, err = b.bo.RefreshAnalytics(ctx)
	require.NoError(t, err)
	return model
}

// TestAdminAnalyticsCSVAndAccess: finance reads the dashboard, its chart
// data and each chart's CSV; support is refused all three.
func TestAdminAnalyticsCSVAndAccess(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	model := analyticsSeed(t, b)
	today := time.Now().In(format.Shanghai).Format("2006-01-02")
	q := "?from=" + today + "&to=" + today + "&granularity=day"

	finance := b.staff(t, "analytics-fin", auth.RoleFinance)
	p := finance.Get("/admin/analytics" + q)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	for _, name := range backoffice.Charts {
		require.Equal(t, 1, p.Doc.Find(`[data-testid="chart-`+name+`"]`).Length(), name)
		href, ok := p.Doc.Find(`[data-testid="csv-` + name + `"]`).Attr("href")
		require.True(t, ok, name)
		csv := finance.Get(href)
		require.Equal(t, http.StatusOK, csv.Status, name)
		require.True(t, strings.HasPrefix(csv.Body, "\uFEFF"), "UTF-8 BOM for Excel")
		lines := strings.Split(strings.TrimSpace(csv.Body), "\n")
		require.GreaterOrEqual(t, len(lines), 2, "%s has a header and data:\n%s", name, csv.Body)
		switch name {
		case backoffice.ChartRevenue:
			require.Contains(t, lines[0], "recognised_rmb,deferred_rmb,cash_in_rmb")
			require.True(t, strings.HasPrefix(lines[1], today+","), csv.Body)
		case backoffice.ChartModels:
			require.Equal(t, "model,revenue_rmb", strings.TrimPrefix(lines[0], "\uFEFF"))
			require.Contains(t, csv.Body, "\n"+model+",80000.00\n", "80,000,000 credits at ¥0.001")
		case backoffice.ChartMargins:
			require.Contains(t, csv.Body, model+",79998.50")
		}
	}
	data := finance.Get("/admin/analytics.json" + q)
	require.Equal(t, http.StatusOK, data.Status)
	var got struct {
		Charts map[string]struct {
			Labels []string `json:"labels"`
			Series []struct {
				Name string   `json:"name"`
				Data []string `json:"data"`
			} `json:"series"`
		} `json:"charts"`
	}
	require.NoError(t, json.Unmarshal([]byte(data.Body), &got))
	require.Contains(t, got.Charts[backoffice.ChartModels].Labels, model)
	require.Equal(t, "收入", got.Charts[backoffice.ChartModels].Series[0].Name, "series named in the user's language")
	require.Equal(t, http.StatusBadRequest, finance.Get("/admin/analytics.csv"+q+"&chart=nope").Status)
	bad := finance.Get("/admin/analytics?within=０&from=soon")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.Equal(t, "请填写 1 到 90 之间的整数天数。", bad.TestID("error-within"))
	require.NotEmpty(t, bad.TestID("error-from"), "every bad field at once")

	support := b.staff(t, "analytics-sup", auth.RoleSupport)
	for _, path := range []string{"/admin/analytics" + q, "/admin/analytics.json" + q, "/admin/analytics.csv" + q + "&chart=revenue"} {
		require.Equal(t, http.StatusForbidden, support.Get(path).Status, path)
	}
	require.Empty(t, support.Get("/admin").Doc.Find(`a[href="/admin/analytics"]`).Nodes, "support's menu has no dashboard")
}

// TestAdminAnalyticsInChromium: on a 390 px phone, in Chinese and in
// English, every chart of the dashboard draws (an SVG) or says it has
// nothing, and the page does not scroll sideways.
func TestAdminAnalyticsInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	model := analyticsSeed(t, b)
	const pw = "staff password 1"
	email := uniqEmail("analytics-browser")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Finance",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	ctx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	today := time.Now().In(format.Shanghai).Format("2006-01-02")
	for _, lang := range []struct{ code, title string }{{"zh-CN", "运营看板"}, {"en", "Operator dashboard"}} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/analytics?from="+today+"&to="+today),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="analytics-form"]`)),
		))
		for _, name := range backoffice.Charts {
			require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-`+name+`"][data-loaded="true"]`))), name)
		}
		require.Contains(t, webtest.Text(t, ctx, "h1"), lang.title)
		for _, name := range []string{backoffice.ChartRevenue, backoffice.ChartModels, backoffice.ChartMargins, backoffice.ChartTop} {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="chart-`+name+`"] svg').length`))
			require.NoError(t, err)
			require.Positive(t, n, "%s draws a chart (%s)", name, lang.code)
		}
		svg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="chart-models"] svg').textContent`))
		require.NoError(t, err)
		require.Contains(t, svg, model[:10], "the charged model is on the revenue ranking")
		webtest.RequireFitsWidth(t, ctx, 390, "the operator dashboard (%s)", lang.code)
		webtest.Screenshot(t, ctx, "analytics-390-"+lang.code)
	}
}
