package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPlanCardQuotaBarsMoveWithTheAPI: a customer of an API platform opens
// the portal from a one-time link; the overview's plan card shows each
// quota window, and its bar moves as the API spends quota; the billing
// preference is changed from the card (a value not offered is a field error
// in the user's language); a calendar window says when its quota runs out at
// its pace so far. At 390 px in both languages.
func TestPlanCardQuotaBarsMoveWithTheAPI(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.grant(b.live, ext, "100", uniq(t, "g"))
	_, acct := b.quotaPlanRPM(ext, 5, plans.PlanFirst, 1000)
	bar, used := `[data-testid="quota-deepseek-chat-requests-rolling"]`, `[data-testid="quota-deepseek-chat-requests-rolling-used"]`

	link := b.live.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(link.JSON(t)["url"].(string)), chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Navigate(b.app.URL+"/portal"), chromedp.WaitVisible(css(`[data-testid="plan-card"]`))))
	require.Equal(t, "0", webtest.Text(t, ctx, used))

	for i, key := range []string{"c1", "c2"} {
		r := b.reserve(b.live, ext, uniq(t, key), 100, 100)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		c := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
			map[string]any{"input_tokens": 50, "output_tokens": 70})
		require.Equal(t, http.StatusOK, c.Status, string(c.Body))
		require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(css(bar))))
		require.Equal(t, []string{"1", "2"}[i], webtest.Text(t, ctx, used), "the bar moves with each call")
	}
	require.Equal(t, "240", webtest.Text(t, ctx, `[data-testid="quota-deepseek-chat-tokens-day-used"]`), "committed tokens count")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/portal/usage"), chromedp.WaitVisible(css(`[data-testid="charge-quota"]`))))
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="charge-quota"]`), "套餐配额", "the usage history says the plan's quota paid")

	for _, lang := range []struct{ code, title, saved, pref, forecast string }{
		{"zh-CN", "当前套餐", "已保存", "仅用套餐配额", "按当前用量"}, {"en", "Current plan", "Saved", "Plan quota only", "At this pace"}} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal"),
			chromedp.WaitVisible(css(`[data-testid="preference-form"]`)),
			chromedp.SetValue(css(`#preference`), string(plans.PlanOnly)),
			chromedp.Click(css(`[data-testid="preference-form"] button`)),
			chromedp.WaitVisible(css(`[data-testid="preference-saved"]`))))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="plan-card"] h2`), lang.title)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="preference-saved"]`), lang.saved)
		selected, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#preference').selectedOptions[0].textContent`))
		require.NoError(t, err)
		require.Contains(t, selected, lang.pref)
		// The day's token quota (240 of 2,000 used since midnight) is
		// forecast at its pace: it runs out at a time, or lasts to the reset.
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="quota-deepseek-chat-tokens-day-forecast"]`), lang.forecast)
		require.Zero(t, countNodes(t, ctx, `[data-testid="quota-deepseek-chat-requests-rolling-forecast"]`), "a rolling window is not forecast")
		webtest.RequireFitsWidth(t, ctx, 390, "the plan card (%s)", lang.code)
		webtest.Screenshot(t, ctx, "portal-plan-card-390-"+lang.code)
		require.NoError(t, b.app.Services.Quotas.SetPreference(context.Background(), acct, plans.PlanFirst, "test"))
	}
	pref, err := b.app.Services.Quotas.Preference(context.Background(), acct)
	require.NoError(t, err)
	require.Equal(t, plans.PlanFirst, pref)

	// A value not offered: the card answers 422 with the field's error.
	client := webtest.NewClient(t, b.app.URL)
	other := b.live.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	client.Get(strings.TrimPrefix(other.JSON(t)["url"].(string), b.app.URL))
	res := client.HTMX(http.MethodPost, "/portal/plan/preference", url.Values{"preference": {"cheapest"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, res.Body)
	require.Contains(t, res.Body, `data-testid="preference-error"`)
}
