package web_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// offViewportJS lists (at most 10) visible elements whose box leaves the
// viewport sideways, except inside a scroll area (an ancestor that scrolls
// or clips horizontally).
const offViewportJS = `(() => {
  const w = document.documentElement.clientWidth;
  const inScrollArea = e => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
    }
    return false;
  };
  return [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (r.right > w + 0.5 || r.left < -0.5) && !inScrollArea(e);
  }).slice(0, 10).map(e => {
    const r = e.getBoundingClientRect();
    return e.tagName + '.' + e.className + '#' + (e.dataset.testid || '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right);
  });
})()`

// TestCustomerPagesOnAPhoneInChromium: on a 390 px phone, in Chinese and in
// English, support opens the customer list, filters it, opens a customer
// with orders, an invoice, usage and a verification, and an enterprise with
// sub-accounts. The list reads as cards with labelled fields, and no
// element of any page leaves the screen.
func TestCustomerPagesOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	f := newCustomerFixture(t, b)
	const pw = "staff password 1"
	email := uniqEmail("phone-cust-support")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Phone support", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(what string) {
		t.Helper()
		off, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](offViewportJS))
		require.NoError(t, err)
		require.Empty(t, off, "%s: elements leave a 390 px screen", what)
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", what)
	}
	webtest.SignIn(t, ctx, b.app.URL, email, pw)

	list := b.app.URL + "/admin/customers?q=" + url.QueryEscape(f.tok)
	person := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, f.person)
	ent := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, f.ent)
	for _, lang := range []struct{ code, kindLabel, individual, orders, subs, owner, basis string }{
		{"zh-CN", "类型", "个人", "最近订单", "子账户", "所有者", "按充值开票"},
		{"en", "Kind", "Individual", "Recent orders", "Sub-accounts", "Owner", "by top-up"},
	} {
		personRow := fmt.Sprintf(`[data-testid="customer-%d"]`, f.person)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(list),
			chromedp.WaitVisible(css(personRow)),
		))
		// A card: the header row is hidden, each cell names its column.
		label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('`+personRow+` [data-testid="customer-row-kind"]'), '::before').content`))
		require.NoError(t, err)
		require.Equal(t, `"`+lang.kindLabel+`"`, label)
		require.Equal(t, lang.individual, webtest.Text(t, ctx, personRow+` [data-testid="customer-row-kind"]`))
		fitsThePhone("the customer list " + lang.code)
		webtest.Screenshot(t, ctx, "customers-390-"+lang.code)

		// Filter to enterprises through the form (htmx swaps the results).
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(css(`[data-testid="customer-kind"]`), "enterprise")))
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="customer-kind"]').dispatchEvent(new Event('change', {bubbles: true}))`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.WaitNotPresent(css(personRow)),
			chromedp.WaitVisible(css(fmt.Sprintf(`[data-testid="customer-%d"]`, f.ent))),
		))
		fitsThePhone("the filtered customer list " + lang.code)

		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(person), chromedp.WaitVisible(css(`[data-testid="customer-orders"]`))))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="customer-orders"]`), lang.orders)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="customer-orders"]`), f.order.OrderNo)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="customer-invoicing-basis"]`), lang.basis)
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="customer-invoicing-basis-change"]').length`))
		require.NoError(t, err)
		require.Zero(t, n, "support may not change the basis: no link")
		fitsThePhone("the customer page " + lang.code)
		webtest.Screenshot(t, ctx, "customer-390-"+lang.code)

		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ent), chromedp.WaitVisible(css(`[data-testid="customer-subs"]`))))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="customer-subs"]`), lang.subs)
		require.Equal(t, lang.owner, webtest.Text(t, ctx, `[data-testid="customer-team"] [data-testid="customer-team-role"]`),
			"the enterprise's members, its owner first")
		fitsThePhone("the enterprise page " + lang.code)
		webtest.Screenshot(t, ctx, "customer-enterprise-390-"+lang.code)
	}

	// On a desktop the list is a table again, with its header.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(list),
		chromedp.WaitVisible(css(`[data-testid="customer-results"] thead th`)),
	))
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= 1280`))
	require.NoError(t, err)
	require.True(t, fits, "the list fits a desktop screen")
	webtest.Screenshot(t, ctx, "customers-1280-en")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(person), chromedp.WaitVisible(css(`[data-testid="orders"] thead th`))))
	webtest.Screenshot(t, ctx, "customer-1280-en")
}
