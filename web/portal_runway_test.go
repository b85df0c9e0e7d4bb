package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestOverviewForecastsTheBalance: with no spend in the last 7 whole days
// the overview forecasts nothing; after calls on earlier days it says, in
// the reader's language, how many days the balance lasts at that pace
// (available ÷ (spent ÷ 7), rounded down); today's spend does not count.
func TestOverviewForecastsTheBalance(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.grant(b.live, ext, "100000", uniq(t, "g"))
	c := b.portalOf(t, ext)
	p := c.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.Zero(t, p.Doc.Find(`[data-testid="runway"]`).Length(), "no spend lately: no forecast")

	// Two days ago and three days ago 8,000 credits each — 16,000 in the
	// week; today's charge does not count.
	acct, err := b.ledger.AccountByExternalID(context.Background(), ledger.ModeLive, ext)
	require.NoError(t, err)
	for i, ago := range []int{2, 3, 0} {
		_, err := b.ledger.Charge(context.Background(), ledger.ChargeRequest{AccountID: acct.ID, Amount: decimal.NewFromInt(8000),
			IdempotencyKey: uniq(t, string(rune('a'+i))), Model: "deepseek-chat",
			OccurredAt: time.Now().Add(-time.Duration(ago) * 24 * time.Hour)})
		require.NoError(t, err)
	}
	// 100,000 − 24,000 = 76,000 left; the week's pace is 16,000 ÷ 7 a day:
	// 76,000 × 7 ÷ 16,000 = 33.25, so 33 days.
	for _, lang := range []struct{ code, want string }{
		{"zh-CN", "按最近 7 天的用量，余额约可用 33 天"},
		{"en", "At the last 7 days' pace, your balance lasts about 33 days"},
	} {
		c.Header.Set("Accept-Language", lang.code)
		p = c.Get("/portal")
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, lang.want, strings.TrimSpace(p.Doc.Find(`[data-testid="runway"]`).Text()), lang.code)
	}

	t.Run("OnAPhone", func(t *testing.T) {
		link := b.live.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
		require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
		ctx := webtest.Browser(t, 60*time.Second)
		css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(link.JSON(t)["url"].(string)), chromedp.WaitVisible(css(`[data-testid="signout"]`))))
		for _, lang := range []struct{ code, want string }{{"zh-CN", "33 天"}, {"en", "about 33 days"}} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal"),
				chromedp.WaitVisible(css(`[data-testid="runway"]`))))
			require.Contains(t, webtest.Text(t, ctx, `[data-testid="runway"]`), lang.want)
			webtest.RequireFitsWidth(t, ctx, 390, "the overview with its forecast (%s)", lang.code)
			webtest.Screenshot(t, ctx, "portal-overview-runway-390-"+lang.code)
		}
	})
}
