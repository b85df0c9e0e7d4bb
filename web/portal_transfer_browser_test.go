package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web/webtest"
)

// TestSubAccountTransferOnAPhoneInChromium: on a 390 px phone the
// enterprise owner moves allocation between two sub-accounts, in Chinese
// and then in English: a wrong form comes back with every problem on its
// field in the page's language, a right one moves the allocation and the
// table shows it. Nothing is wider than the screen.
func TestSubAccountTransferOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	p := setupTransferPortal(t, "transfer-phone@example.com")
	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(what string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", what)
	}
	// send fills the transfer form, sends it and waits for what shows: a
	// new page (waitFor is looked for only in a document loaded after the
	// click) or the form swapped in place with its errors.
	send := func(from, to, amount, waitFor string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const f = document.querySelector('[data-testid="transfer-form"]').elements;
				f["from"].value = %q; f["to"].value = %q; f["amount"].value = ""; })()`, from, to)),
			chromedp.SendKeys(css(`[data-testid="transfer-amount"]`), amount),
			chromedp.Click(css(`[data-testid="transfer-submit"]`)),
			chromedp.WaitVisible(css(waitFor)),
		))
	}
	row := func(name string) string {
		return webtest.Text(t, ctx, `[data-testid="sub-account-row"]:has(a[href$="/`+map[string]string{"研发部": p.aID, "Sales": p.bID}[name]+`"])`)
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), "transfer-phone@example.com"),
		chromedp.SendKeys(css(`#f-password`), "correct horse 1"),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="available"]`)),
		chromedp.Navigate(p.app.URL+"/portal/accounts"),
		chromedp.WaitVisible(css(`[data-testid="transfer-form"]`)),
	))
	require.Equal(t, "子账户之间划转额度", webtest.Text(t, ctx, `[data-testid="transfer-section"] h2`))
	fitsThePhone("the sub-accounts page")

	// The same account twice and an amount that is no number: both fields
	// are marked at once, in Chinese.
	send(p.aID, p.aID, "abc", `[data-testid="error-amount"]`)
	require.Equal(t, "请选择两个不同的账户：额度从一个账户划转到另一个账户。", webtest.Text(t, ctx, `[data-testid="error-to"]`))
	require.Equal(t, "请输入正数点数：最多 6 位小数，不超过 1,000,000,000,000。", webtest.Text(t, ctx, `[data-testid="error-amount"]`))
	fitsThePhone("the form with its errors")
	webtest.Screenshot(t, ctx, "transfer-errors-390-zh")

	// Right: 120.5 from 研发部 to Sales.
	send(p.aID, p.bID, "120.5", `body:not([data-stale]) [data-testid="flash-success"]`)
	require.Contains(t, row("研发部"), "179.5")
	require.Contains(t, row("Sales"), "220.5")
	require.Equal(t, "179.5", p.allocation(t, p.a))
	fitsThePhone("the page after a transfer")
	webtest.Screenshot(t, ctx, "transfer-done-390-zh")

	// English: more than Sales has, then a right one back.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="lang-en"]`)),
		chromedp.WaitVisible(css(`[data-testid="transfer-form"]`)),
	))
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
	require.NoError(t, err)
	require.Equal(t, "Move allocation between sub-accounts", webtest.Text(t, ctx, `[data-testid="transfer-section"] h2`))
	send(p.bID, p.aID, "1000", `[data-testid="error-amount"]`)
	require.Equal(t, "Sales can give at most 220.5 credits.", webtest.Text(t, ctx, `[data-testid="error-amount"]`))
	fitsThePhone("the English form with its error")
	webtest.Screenshot(t, ctx, "transfer-errors-390-en")

	send(p.bID, p.aID, "20.5", `body:not([data-stale]) [data-testid="flash-success"]`)
	require.True(t, strings.HasPrefix(webtest.Text(t, ctx, `body:not([data-stale]) [data-testid="flash-success"]`), "Allocation moved: the new allocations are in the table."))
	require.Contains(t, row("研发部"), "200")
	require.Contains(t, row("Sales"), "200")
	fitsThePhone("the English page after a transfer")
	webtest.Screenshot(t, ctx, "transfer-done-390-en")
	require.Len(t, p.audit(t, p.ent), 2)
}
