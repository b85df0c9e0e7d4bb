package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalInvoicesByConsumptionInChromium: finance sets a customer to be
// invoiced by consumption (from next month); that month the customer tops
// up ¥100.00 and uses 30% of it; once the month is over the portal shows
// the basis and the month with ¥30.00 to invoice, its top-up no longer
// invoiceable. On a 390 px phone in Chinese and in English, a bad request
// names every wrong field at once in that language; then the month is
// invoiced in full, and nothing is left of it.
func TestPortalInvoicesByConsumptionInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	clock.Advance(-70 * 24 * time.Hour)
	b := setupPortal(t, webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	a := b.app.Services
	login := uniqEmail("consumption-invoice")
	_, u := b.register(t, login, "按量开票客户")
	acc := u.AccountID

	// This month: finance switches the account (audited by the back office).
	ch, err := a.Invoicing.SetBasis(ctx, acc, invoicing.BasisConsumption, "staff:test", nil)
	require.NoError(t, err)
	month := ch.EffectiveFrom.In(format.Shanghai)

	// Next month: a paid top-up of ¥100.00, 30% of it used.
	clock.Advance(month.Add(48 * time.Hour).Sub(clock.Now()))
	o, err := a.Payments.CreateTransferOrder(ctx, acc, 10000)
	require.NoError(t, err)
	tx, err := b.app.Pool.Begin(ctx)
	require.NoError(t, err)
	o, err = a.Payments.CompleteTransferOrder(ctx, tx, o.ID, "STMT-"+o.OrderNo, "test")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	lots, err := a.Ledger.Lots(ctx, acc)
	require.NoError(t, err)
	var lot ledger.Lot
	for _, l := range lots {
		if l.ID == *o.PaidLotID {
			lot = l
		}
	}
	require.NotZero(t, lot.ID)
	bal, err := a.Ledger.BalanceAt(ctx, acc, clock.Now())
	require.NoError(t, err)
	promo := bal.Sub(lot.Amount) // sign-up credit is spent first
	b.charge(t, acc, "cons-"+login, "deepseek-chat", "s1", promo.Add(lot.Amount.Mul(decimal.RequireFromString("0.3"))).String(), 1000, 100)

	// The month after: the month is closed.
	clock.Advance(month.AddDate(0, 1, 0).Add(24 * time.Hour).Sub(clock.Now()))
	label := month.Format("2006-01")

	bctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	row := `[data-testid="invoiceable-month"][data-month="` + label + `"]`
	for _, lang := range []struct{ code, basis, name, amount string }{
		{"zh-CN", "按消费开票", "此项为必填项", "格式不正确"},
		{"en", "invoiced by consumption", "This field is required", "not in the right format"},
	} {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/invoices"),
			chromedp.WaitVisible(css(row)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-basis"]`), lang.basis)
		require.Contains(t, webtest.Text(t, bctx, row+` [data-testid="month-available"]`), "¥30.00")
		webtest.RequireFitsWidth(t, bctx, 390, "the invoices page by consumption (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-invoices-consumption-390-"+lang.code)

		// An unreadable amount and no title name: both named at once.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SendKeys(css(`[data-testid="month-amount"]`), "abc"),
			chromedp.Click(css(`[data-testid="invoice-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-items"]`)),
		))
		main := webtest.Text(t, bctx, "main")
		require.Contains(t, main, lang.name)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-items"]`), lang.amount)
		require.NotContains(t, main, "error.field.", "no raw keys (%s)", lang.code)
		require.NotContains(t, main, "invoice.basis", "no raw keys (%s)", lang.code)
		require.NotContains(t, main, "invoice.month", "no raw keys (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the invoice form's errors (%s)", lang.code)
	}

	// The whole month, as an ordinary invoice to an individual.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+"/portal/invoices"),
		chromedp.WaitVisible(css(row)),
		chromedp.Click(css(`[data-testid="title-type-individual"]`)),
		chromedp.SendKeys(css(`[name="title.name"]`), "张三"),
		chromedp.Click(css(`[data-testid="invoice-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-row"]`), "¥30.00")
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="invoice-row"]`), label)
	require.Contains(t, webtest.Text(t, bctx, row+` [data-testid="month-available"]`), "¥0.00")

	invs, err := a.Invoicing.ForAccount(ctx, acc)
	require.NoError(t, err)
	require.Len(t, invs, 1)
	require.Equal(t, int64(3000), invs[0].AmountFen)
	require.Equal(t, label, invs[0].Month)
	require.True(t, strings.HasPrefix(invs[0].Buyer.Name, "张三"))
}
