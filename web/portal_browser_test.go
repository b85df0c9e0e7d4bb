package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalJourneyInChromium walks the customer's way through the portal
// in headless Chromium: register, sign-up credit in the promo bucket, sign
// out and in, usage filtered by model with chart and totals, CSV export
// against the ledger, English, and the overview on a 390 px phone.
func TestPortalJourneyInChromium(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := webtest.Browser(t, 60*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Register.
	registering := time.Now()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/signup"),
		chromedp.WaitVisible(css(`[data-testid="signup-form"]`)),
		chromedp.SendKeys(css(`#f-login`), "grace@example.com"),
		chromedp.SendKeys(css(`#f-name`), "Grace"),
		chromedp.SendKeys(css(`#f-password`), "journey pass 1"),
		chromedp.SendKeys(css(`#f-password_confirm`), "journey pass 1"),
		chromedp.Click(css(`[data-testid="signup-consent"]`)),
		chromedp.Click(css(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="bucket-promo-amount"]`)),
	))
	require.Equal(t, "5,000", webtest.Text(t, ctx, `[data-testid="bucket-promo-amount"]`))
	// Thirty days after the sign-up, which happened between registering
	// and now (on a loaded machine these may fall in two minutes).
	expiry := webtest.Text(t, ctx, `[data-testid="bucket-promo-expiry"]`)
	require.Contains(t, []string{format.Time(registering.Add(30 * 24 * time.Hour)), format.Time(time.Now().Add(30 * 24 * time.Hour))}, expiry)
	require.Contains(t, webtest.Text(t, ctx, `[data-testid="expiring"]`), "5,000")

	// Usage arrives from the gateway (two models, one session).
	u, err := b.auth.UserByLogin(context.Background(), "grace@example.com")
	require.NoError(t, err)
	_, err = b.ledger.Credit(context.Background(), ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(30000), IdempotencyKey: "pay-1", SourceRef: "order-1"})
	require.NoError(t, err)
	b.charge(t, u.AccountID, "j1", "deepseek-chat", "sess-9", "4970", 120000, 3000)
	b.charge(t, u.AccountID, "j2", "deepseek-chat", "sess-9", "100", 1000, 500)
	b.charge(t, u.AccountID, "j3", "kimi-k2", "", "250.75", 5000, 900)

	// Sign out and in again.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="signout"]`)),
		chromedp.WaitVisible(css(`[data-testid="signin-form"]`)),
		chromedp.Navigate(b.app.URL+"/portal/usage"),
		chromedp.WaitVisible(css(`[data-testid="signin-form"]`)),
		chromedp.SendKeys(css(`#f-login`), "grace@example.com"),
		chromedp.SendKeys(css(`#f-password`), "journey pass 1"),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="usage-filter"]`)),
		// Let the page settle (the chart loads its data after the page)
		// before touching the form, or a node can vanish under the click.
		chromedp.WaitVisible(css(`[data-testid="usage-chart"][data-loaded="true"]`)),
	))

	// Filter by model: chart and totals follow.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`[data-testid="filter-model"]`), "deepseek-chat"),
		// Mark this document, so the wait below only matches the filtered page.
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(css(`[data-testid="filter-apply"]`)),
		chromedp.WaitVisible(css(`body:not([data-stale]) [data-testid="usage-chart"][data-loaded="true"]`)),
	))
	require.Equal(t, "5,070", webtest.Text(t, ctx, `[data-testid="total-charged"]`))
	require.Equal(t, "¥5.07", webtest.Text(t, ctx, `[data-testid="total-rmb"]`))
	series, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("usage-chart").dataset.series`))
	require.NoError(t, err)
	require.Equal(t, "1", series)
	svg, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#usage-chart svg path").length`))
	require.NoError(t, err)
	require.Positive(t, svg, "ECharts drew the bars")
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="charge-row"]').length`))
	require.NoError(t, err)
	require.Equal(t, 2, rows)
	// The first charge was paid from promo first, then paid.
	parts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelectorAll('[data-testid="charge-parts"]')[1].textContent`))
	require.NoError(t, err)
	require.Contains(t, parts, "4,970 来自赠送")
	webtest.Screenshot(t, ctx, "usage-desktop-zh")

	// Export the filtered rows and compare them with the ledger.
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('[data-testid="export-csv"]').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	evs, _, err := b.ledger.Events(context.Background(), u.AccountID, ledger.EventFilter{Model: "deepseek-chat", Types: []ledger.EventType{ledger.EventDeduction}}, 0, 100)
	require.NoError(t, err)
	want := map[string]decimal.Decimal{}
	for _, e := range evs {
		want[fmt.Sprint(e.OpID)] = want[fmt.Sprint(e.OpID)].Sub(e.Amount)
	}
	require.Len(t, recs[1:], len(want))
	for _, r := range recs[1:] {
		require.True(t, want[r[1]].Equal(decimal.RequireFromString(r[12])), "CSV %v, ledger %s", r, want[r[1]])
		require.Equal(t, "sess-9", r[4])
	}

	// English.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="lang-en"]`)),
		chromedp.WaitVisible(css(`[data-testid="usage-filter"]`)),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
	require.NoError(t, err)
	require.Equal(t, "Usage", webtest.Text(t, ctx, `main h1`))

	// The overview on a 390 px phone: nothing wider than the screen.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/portal"),
		chromedp.WaitVisible(css(`[data-testid="bucket-promo-amount"]`)),
	))
	require.Equal(t, "Overview", webtest.Text(t, ctx, `main h1`))
	require.Equal(t, "Promotional", webtest.Text(t, ctx, `[data-testid="bucket-promo"] td`))
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	require.NoError(t, err)
	require.LessOrEqual(t, width, 390, "the overview scrolls sideways on a phone")
	file := webtest.Screenshot(t, ctx, "overview-390-en")
	require.FileExists(t, file)
}
