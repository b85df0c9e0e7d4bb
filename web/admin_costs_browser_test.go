package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestCostCardsAndMarginsInChromium: on a 390 px phone, in Chinese and in
// English, finance publishes a cost card: a bad form names every bad field
// at once in the page's language, a good one is in force at once and the
// next call records its cost; the margin report then shows the call's
// revenue, cost and margin by model, and its CSV link.
func TestCostCardsAndMarginsInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	bg := context.Background()
	const pw = "staff password 1"
	email := uniqEmail("costs-finance")
	_, err := b.app.Services.Auth.CreateStaff(bg, auth.StaffRequest{Email: email, Password: pw, Name: "Finance",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	set := func(sel, v string) chromedp.Action[chromedp.Void] { return chromedp.SetValue(css(sel), v) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	for _, lang := range []struct{ code, atErr, linesErr, noteErr, done string }{
		{"zh-CN", "不早于现在", "not-a-model 不在当前公开价目表上", "请填写原因", "成本价目已发布"},
		{"en", "from now on", "not-a-model is not on the public rate card", "A reason is required", "was published"},
	} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/costs"),
			chromedp.WaitVisible(css(`[data-testid="cost-form"]`)),
		))
		require.NoError(t, chromedp.Do(ctx, set(`#f-effective_at`, "2020-01-01T08:00")), "effective_at")
		require.NoError(t, chromedp.Do(ctx, set(`#f-lines`, "deepseek-chat 0.0012 0.0048 0.0003\nnot-a-model 1 1 1")), "lines")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="cost-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-lines"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-effective_at"]`), lang.atErr)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-lines"]`), lang.linesErr)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="error-note"]`), lang.noteErr)
		webtest.RequireFitsWidth(t, ctx, 390, "the cost card form's errors (%s)", lang.code)
		webtest.Screenshot(t, ctx, "cost-card-errors-390-"+lang.code)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Clear(css(`#f-effective_at`)),
			set(`#f-lines`, "deepseek-chat 0.0012 0.0048 0.0003\nwanx-v1 0.096\nglm-4-flash"),
			set(`#f-note`, "供应商合同 2027 / contract "+lang.code),
			chromedp.Click(css(`[data-testid="cost-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), lang.done)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="cost-current"]`), "deepseek-chat 0.0012 0.0048 0.0003")
		webtest.RequireFitsWidth(t, ctx, 390, "the cost card page (%s)", lang.code)
		webtest.Screenshot(t, ctx, "cost-cards-390-"+lang.code)
	}
	var audited int
	require.NoError(t, b.pool.QueryRow(bg, `SELECT count(*) FROM admin_audit_log WHERE action = 'cost_card_published'
		AND actor_email = $1`, email).Scan(&audited))
	require.Equal(t, 2, audited)

	// A call on the new card: 1,000 + 1,000 tokens of deepseek-chat cost
	// ¥0.0012 + ¥0.0048 and charge 10 credits (¥0.01): margin ¥0.004.
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.grant(b.live, ext, "100", uniq(t, "g"))
	r := b.reserve(b.live, ext, uniq(t, "r"), 1000, 1000)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	c := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
		map[string]any{"input_tokens": 1000, "output_tokens": 1000})
	require.Equal(t, http.StatusOK, c.Status, string(c.Body))
	var cost string
	require.NoError(t, b.pool.QueryRow(bg, `SELECT e.detail->>'cost' FROM ledger_events e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE a.external_id = $1 AND e.type = 'deduction' LIMIT 1`, ext).Scan(&cost))
	require.Equal(t, "0.006000", cost)

	// A negative-margin day the daily job recorded is listed on the report.
	alertModel := uniq(t, "model")
	_, err = b.pool.Exec(bg, `INSERT INTO cost_margin_alerts (day, model, charges, revenue, cost) VALUES ('2025-01-01', $1, 3, 0.01, 0.25)`,
		alertModel)
	require.NoError(t, err)

	today := time.Now().In(format.Shanghai).Format("2006-01-02")
	for _, lang := range []struct{ code, total, direct string }{{"zh-CN", "合计", "直接调用 API"}, {"en", "Total", "Direct API"}} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/margins?view=customer&from="+today+"&to="+today),
			chromedp.WaitVisible(css(`[data-testid="margin-report"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-total"]`), lang.total)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-report"]`), ext)
		require.NotEmpty(t, webtest.Text(t, ctx, `[data-testid="margin-csv"]`))
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="margin-view-model"]`)),
			chromedp.WaitVisible(css(`[data-testid="margin-view-model"][aria-current="page"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-report"]`), "deepseek-chat")
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-alerts"]`), alertModel)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-alerts"]`), "-¥0.24")
		webtest.RequireFitsWidth(t, ctx, 390, "the margin report (%s)", lang.code)
		webtest.Screenshot(t, ctx, "margins-390-"+lang.code)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="margin-view-upstream"]`)),
			chromedp.WaitVisible(css(`[data-testid="margin-view-upstream"][aria-current="page"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="margin-report"]`), lang.direct, "the API call went through no relay")
		webtest.RequireFitsWidth(t, ctx, 390, "the margin report by upstream (%s)", lang.code)
	}
}
