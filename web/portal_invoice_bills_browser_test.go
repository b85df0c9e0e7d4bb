package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalInvoiceOfAPaidBillOnAPhone: an enterprise on a credit line
// spends 2,345.5 credits of it; its bill of ¥2.35 is issued and paid. The
// invoice page, on a 390 px phone in Chinese and in English, lists the bill
// with ¥2.35 to invoice; a bad request names every wrong field at once in
// that language; then the whole bill is invoiced, once, and nothing is left
// of it.
func TestPortalInvoiceOfAPaidBillOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	b := setupPortal(t, webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	login := uniqEmail("bill-invoice")
	_, u := b.register(t, login, "月结开票企业")
	ent := b.enterprise(t, u.ID, "月结开票企业")
	b.verified(t, ent)
	lines := b.app.Services.CreditLines
	bill := b.billedLine(t, clock, ent, 50000, "2345.5", "bill-invoice-1")
	require.EqualValues(t, 235, bill.AmountFen)
	_, err := lines.Pay(ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidByTransfer, Ref: "STMT-9", Actor: "staff:1"})
	require.NoError(t, err)

	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	row := `[data-testid="invoiceable-bill"]`
	for _, lang := range []struct{ code, legend, name, amount string }{
		{"zh-CN", "授信账单", "此项为必填项", "格式不正确"},
		{"en", "Credit line bills", "This field is required", "not in the right format"},
	} {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/invoices"),
			chromedp.WaitVisible(css(row)),
		))
		require.Contains(t, webtest.Text(t, bctx, "main"), lang.legend)
		require.Equal(t, "¥2.35", webtest.Text(t, bctx, row+` [data-testid="bill-available"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the invoices page with a bill (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-invoices-bill-390-"+lang.code)

		// An unreadable amount and no title name: both named at once.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SendKeys(css(`[data-testid="bill-amount"]`), "abc"),
			chromedp.Click(css(`[data-testid="invoice-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-items"]`)),
		))
		main := webtest.Text(t, bctx, "main")
		require.Contains(t, main, lang.name)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-items"]`), lang.amount)
		require.NotContains(t, main, "error.field.", "no raw keys (%s)", lang.code)
		require.NotContains(t, main, "invoice.bill", "no raw keys (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the invoice form's errors (%s)", lang.code)
	}

	// The whole bill, as an ordinary invoice to an individual.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+"/portal/invoices"),
		chromedp.WaitVisible(css(row)),
		chromedp.Click(css(`[data-testid="title-type-individual"]`)),
		chromedp.SendKeys(css(`[name="title.name"]`), "张三"),
		chromedp.Click(css(`[data-testid="invoice-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-row"]`), "¥2.35")
	require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="invoice-bill"]`))
	require.Equal(t, "¥0.00", webtest.Text(t, bctx, row+` [data-testid="bill-available"]`))
	webtest.RequireFitsWidth(t, bctx, 390, "the invoices page after the bill's invoice")

	invs, err := b.app.Services.Invoicing.ForAccount(ctx, ent)
	require.NoError(t, err)
	require.Len(t, invs, 1)
	require.EqualValues(t, 235, invs[0].AmountFen)
	require.NotNil(t, invs[0].BillID)
	require.Equal(t, bill.ID, *invs[0].BillID)
	require.True(t, strings.HasPrefix(invs[0].Buyer.Name, "张三"))
}
