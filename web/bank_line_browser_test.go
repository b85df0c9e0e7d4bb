package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestResolvedBankLineReachesTheCustomerInChromium: a customer's transfer
// arrives without its reference code; finance resolves the line to the
// customer in /admin. The customer then finds it on a 390 px phone, in
// Chinese and in English, among their orders as a paid bank transfer
// (银行转账 / Bank transfer, never a code) with the bank's serial and the
// payer, can open it, may ask for it back, and selects it for an invoice
// and requests one. Nothing is wider than the screen.
func TestResolvedBankLineReachesTheCustomerInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	bg := context.Background()
	const pw = "staff password 1"
	finance := uniqEmail("finance")
	fu, err := b.auth.CreateStaff(bg, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	login := uniqEmail("wire")
	_, cust := b.register(t, login, "转账客户")
	serial := fmt.Sprintf("BL%d", time.Now().UnixNano())
	payer := "北京丁" + serial[len(serial)-6:] + "科技有限公司"
	_, err = b.bo.ImportStatement(bg, strings.NewReader(statement([4]string{serial, payer, "880.00", "货款"})), "wire.csv", "110", backoffice.Actor{User: fu})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	signIn := func(login, password, then, wait string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/signin"),
			chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
			chromedp.SendKeys(css(`#f-login`), login),
			chromedp.SendKeys(css(`#f-password`), password),
			chromedp.Click(css(`[data-testid="signin-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="signout"]`)),
			chromedp.Navigate(b.app.URL+then),
			chromedp.WaitVisible(css(wait)),
		))
	}
	fitsThePhone := func(page string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", page)
	}

	// Finance finds the customer by their login in the line's form and
	// credits the line to them.
	signIn(finance, pw, "/admin/statements?q="+serial, `[data-testid="line-`+serial+`"]`)
	line := `[data-testid="line-` + serial + `"] `
	pick := fmt.Sprintf(`%s[data-testid="payer-%d"] `, line, cust.AccountID)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(line+`[data-testid="line-actions"]`)),
		// Opening the form searches by the payer's name, a company no
		// customer is verified as.
		chromedp.WaitVisible(css(line+`[data-testid="payer-none"]`)),
		chromedp.Clear(css(line+`[data-testid="resolve-find"]`)),
		chromedp.SendKeys(css(line+`[data-testid="resolve-find"]`), login),
		chromedp.WaitReady(css(line+`[data-testid="payer-candidates"] input[name="find"][value="`+login+`"]`)),
		chromedp.WaitVisible(css(pick+`[data-testid="payer-pick"]`)),
		chromedp.Click(css(pick+`[data-testid="payer-pick"]`)),
		chromedp.SendKeys(css(line+`[data-testid="resolve-note"]`), "客户来电确认，转账未填备注码"),
		chromedp.Click(css(line+`[data-testid="resolve-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		chromedp.Click(css(`[data-testid="signout"]`)),
		chromedp.WaitNotPresent(css(`[data-testid="signout"]`)),
	))
	orders, err := b.payments.Orders(bg, cust.AccountID, 10)
	require.NoError(t, err)
	require.Len(t, orders, 1)
	o := orders[0]
	require.Equal(t, payments.StatePaid, o.State)
	row := `[data-testid="order-row"][data-order="` + o.OrderNo + `"] `
	offer := offerSel(o.OrderNo)
	invoiceRow := `[data-testid="invoiceable-row"][data-order="` + o.OrderNo + `"] `

	// The customer, on a phone, in Chinese.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	signIn(login, "correct horse 1", "/portal/orders", row)
	require.Equal(t, "银行转账", webtest.Text(t, ctx, row+`[data-testid="order-channel"]`))
	require.Equal(t, "已支付", webtest.Text(t, ctx, row+`[data-testid="order-state"]`))
	require.Equal(t, "¥880.00", webtest.Text(t, ctx, row+`[data-testid="order-amount"]`))
	require.Equal(t, "银行流水号 "+serial, webtest.Text(t, ctx, row+`[data-testid="order-serial"]`))
	require.Equal(t, "付款方 "+payer, webtest.Text(t, ctx, row+`[data-testid="order-payer"]`))
	require.Equal(t, "银行转账", webtest.Text(t, ctx, offer+` [data-testid="refund-offer-channel"]`))
	require.Equal(t, "¥880.00", webtest.Text(t, ctx, offer+` [data-testid="refund-max"]`), "all of it may be asked back")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(offer+` [data-testid="refund-form"]`))))
	fitsThePhone("the orders page")
	webtest.Screenshot(t, ctx, "orders-390-zh")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row+`a`)),
		chromedp.WaitVisible(css(`[data-testid="received-transfer"]`)),
	))
	require.Equal(t, "已支付", webtest.Text(t, ctx, `[data-testid="received-state"]`))
	require.Equal(t, "¥880.00", webtest.Text(t, ctx, `[data-testid="received-amount"]`))
	require.Equal(t, payer, webtest.Text(t, ctx, `[data-testid="received-payer"]`))
	require.Equal(t, "************2222", webtest.Text(t, ctx, `[data-testid="received-payer-account"]`), "only the last 4 digits")
	require.Equal(t, serial, webtest.Text(t, ctx, `[data-testid="received-serial"]`))
	require.Equal(t, "880,000 点", webtest.Text(t, ctx, `[data-testid="received-credits"]`))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="transfer-instructions"], [data-testid="transfer-reference"]').length`))
	require.NoError(t, err)
	require.Zero(t, n, "no instructions to pay what has arrived")
	fitsThePhone("the order page")
	webtest.Screenshot(t, ctx, "received-390-zh")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/portal/invoices"),
		chromedp.WaitVisible(css(invoiceRow)),
	))
	require.Equal(t, "¥880.00", webtest.Text(t, ctx, invoiceRow+`[data-testid="available"]`))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(invoiceRow+`[data-testid="order-`+o.OrderNo+`"]`))))
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="order-`+o.OrderNo+`"]').checked`))
	require.NoError(t, err)
	require.True(t, checked, "the customer can select it for an invoice")
	webtest.Screenshot(t, ctx, "invoices-390-zh")
	fitsThePhone("the invoices page")

	// In English: the same order, labelled in words; selected and invoiced.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/portal/orders"),
		chromedp.WaitVisible(css(row)),
		chromedp.Click(css(`[data-testid="lang-en"]`)),
		chromedp.WaitVisible(css(row)),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
	require.NoError(t, err)
	require.Equal(t, "Bank transfer", webtest.Text(t, ctx, row+`[data-testid="order-channel"]`))
	require.Equal(t, "paid", webtest.Text(t, ctx, row+`[data-testid="order-state"]`))
	require.Equal(t, "Bank serial no. "+serial, webtest.Text(t, ctx, row+`[data-testid="order-serial"]`))
	require.Equal(t, "Payer "+payer, webtest.Text(t, ctx, row+`[data-testid="order-payer"]`))
	require.Equal(t, "Bank transfer", webtest.Text(t, ctx, offer+` [data-testid="refund-offer-channel"]`))
	fitsThePhone("the orders page in English")
	webtest.Screenshot(t, ctx, "orders-390-en")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(row+`a`)),
		chromedp.WaitVisible(css(`[data-testid="received-transfer"]`)),
	))
	require.Equal(t, "880,000 credits", webtest.Text(t, ctx, `[data-testid="received-credits"]`))
	fitsThePhone("the order page in English")
	webtest.Screenshot(t, ctx, "received-390-en")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.app.URL+"/portal/invoices"),
		chromedp.WaitVisible(css(invoiceRow)),
		chromedp.Click(css(invoiceRow+`[data-testid="order-`+o.OrderNo+`"]`)),
		chromedp.Click(css(`[data-testid="title-type-individual"]`)),
		chromedp.SendKeys(css(`[name="title.name"]`), "王小明"),
		chromedp.Click(css(`[data-testid="invoice-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="invoice-row"]`)),
	))
	require.Equal(t, "¥880.00", webtest.Text(t, ctx, `[data-testid="invoice-row"] [data-testid="invoice-amount"]`))
	require.Equal(t, "¥0.00", webtest.Text(t, ctx, invoiceRow+`[data-testid="available"]`), "all of it is on the request")
	fitsThePhone("the invoices page in English")
	webtest.Screenshot(t, ctx, "invoiced-390-en")
}
