package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAdminCreditLineOnAPhone: finance, on a 390 px phone, opens an
// enterprise's customer page, sends a credit line form that is wrong in
// every field and reads every error at once (zh-CN and en), grants a ¥500
// line, then — after the billing day issued a bill — records the matched
// transfer on the bill, which shows paid. Nothing leaves the screen.
func TestAdminCreditLineOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	b := setupAdmin(t, webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "授信企业"})
	require.NoError(t, err)
	const pw = "staff password 1"
	finance := uniqEmail("credit-finance")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)

	bctx := webtest.Browser(t, 150*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	page := fmt.Sprintf("%s/admin/customers/%d", b.app.URL, acc.ID)
	set := func(sel, val string) chromedp.Action[chromedp.Void] {
		eval := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector(%q).value = %q; return true })()`, sel, val))
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := eval(ctx, t)
			return chromedp.Void{}, err
		}
	}
	for _, lang := range []struct{ code, day, reason string }{
		{"zh-CN", "出账日须在 1 到 28 之间。", "请填写原因。"},
		{"en", "The billing day must be between 1 and 28.", "A reason is required."},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="credit-line-form"]`)),
			set(`[data-testid="credit-line-amount"]`, "0"), set(`[data-testid="credit-line-day"]`, "31"),
			set(`[data-testid="credit-line-terms"]`, "91"), set(`[data-testid="credit-line-grace"]`, "-1"),
			set(`[data-testid="credit-line-reason"]`, ""),
			chromedp.Click(css(`[data-testid="credit-line-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="credit-line-form"] [aria-invalid="true"]`))))
		form := webtest.Text(t, bctx, `[data-testid="credit-line-form"]`)
		require.Contains(t, form, lang.day, "every field at once (%s)", lang.code)
		require.Contains(t, form, lang.reason)
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="credit-line-form"] [aria-invalid="true"]').length`))
		require.NoError(t, err)
		require.Equal(t, 5, n, "five fields wrong (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the credit line form with its errors (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-credit-errors-390-"+lang.code)
	}

	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/zh-CN"), chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="credit-line-form"]`)),
		set(`[data-testid="credit-line-amount"]`, "500"), set(`[data-testid="credit-line-day"]`, "1"),
		set(`[data-testid="credit-line-terms"]`, "10"), set(`[data-testid="credit-line-grace"]`, "5"),
		set(`[data-testid="credit-line-reason"]`, "月结合同"),
		chromedp.Click(css(`[data-testid="credit-line-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="credit-line-summary"]`))))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="credit-line-summary"]`), "¥500.00")
	bal, err := b.ledger.Balance(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, bal.Line.Equal(decimal.NewFromInt(500000)), "the line is in the ledger: %s", bal.Line)

	// Spending on the line, then the billing day: a bill to record paid.
	b.verified(t, acc.ID)
	_, err = b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.NewFromInt(1200), IdempotencyKey: "credit-admin-1",
		OccurredAt: clock.Now()})
	require.NoError(t, err)
	clock.Advance(32 * 24 * time.Hour)
	_, err = b.app.Services.CreditLines.CloseDue(ctx)
	require.NoError(t, err)
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang), chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="credit-bill"]`))))
		require.Equal(t, "-1,200", webtest.Text(t, bctx, `[data-testid="customer-available"]`), "the debt, net of the line (%s)", lang)
		require.Equal(t, "498,800", webtest.Text(t, bctx, `[data-testid="bucket-credit"]`), "the unused line (%s)", lang)
		webtest.RequireFitsWidth(t, bctx, 390, "the credit line panel with a bill (%s)", lang)
		webtest.Screenshot(t, bctx, "admin-credit-bill-390-"+lang)
	}
	require.Equal(t, "To pay", webtest.Text(t, bctx, `[data-testid="credit-bill-status"]`))
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(css(`[data-testid="credit-bill-pay-ref"]`), "STMT-2026-001"),
		chromedp.Click(css(`[data-testid="credit-bill-pay-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="credit-bill"][data-status="paid"]`))))
	require.Equal(t, "Paid", webtest.Text(t, bctx, `[data-testid="credit-bill-status"]`))
	webtest.RequireFitsWidth(t, bctx, 390, "the paid bill")
	bills, err := b.app.Services.CreditLines.Bills(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, creditline.StatusPaid, bills[0].Status)
	require.Equal(t, "STMT-2026-001", bills[0].PaidRef)

	// The bill paid, nothing of the line is used: 0 closes it. A closed
	// line reads as no line (not a line of ¥0.00); its bill stays listed.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(page),
		chromedp.WaitVisible(css(`[data-testid="credit-line-form"]`)),
		set(`[data-testid="credit-line-amount"]`, "0"), set(`[data-testid="credit-line-reason"]`, "合同结束"),
		chromedp.Click(css(`[data-testid="credit-line-submit"]`))))
	// The answer may navigate: a read during it fails and is tried again.
	require.Eventually(t, func() bool {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="credit-line-none"]')`))
		return err == nil && ok
	}, 10*time.Second, 100*time.Millisecond, "the closed line")
	for _, lang := range []struct{ code, none string }{{"zh-CN", "无授信额度（授信已关闭）。"}, {"en", "No credit line (closed)."}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(page),
			chromedp.WaitVisible(css(`[data-testid="credit-line-none"]`))))
		require.Equal(t, lang.none, webtest.Text(t, bctx, `[data-testid="credit-line-none"]`))
		summary, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="credit-line-summary"]')`))
		require.NoError(t, err)
		require.False(t, summary, "no ¥0.00 line (%s)", lang.code)
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="credit-bill"][data-status="paid"]').length`))
		require.NoError(t, err)
		require.Equal(t, 1, n, "the paid bill is still listed (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the closed line (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-credit-closed-390-"+lang.code)
	}
	bal, err = b.ledger.Balance(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, bal.Line.IsZero(), "the line is closed in the ledger: %s", bal.Line)
	require.True(t, bal.Own().Equal(bal.Available), "the account owns what it may spend")
}

// TestRevenueReportShowsPostpaidOnAPhone: an enterprise spends ¥123.45 of
// its credit line and the billing day issues the bill; finance's revenue
// report, on a 390 px phone in Chinese and English, shows the postpaid
// revenue recognised and the whole bill as receivable; once the matched
// transfer is recorded, the bill as paid and nothing receivable.
func TestRevenueReportShowsPostpaidOnAPhone(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	// A database of its own: the report is the whole platform's, and other
	// tests' credit lines would be in it.
	b := setupAdmin(t, webtest.WithOwnDatabase(), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结报表企业"})
	require.NoError(t, err)
	b.verified(t, acc.ID)
	spent := clock.Now().In(format.Shanghai)
	bill := b.billedLine(t, clock, acc.ID, 100000, "123450", "report-postpaid")
	require.EqualValues(t, 12345, bill.AmountFen)

	const pw = "staff password 1"
	finance := uniqEmail("report-finance")
	staff, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	report := fmt.Sprintf("%s/admin/reports?from=%s&to=%s&granularity=month", b.app.URL,
		spent.Format("2006-01-02"), clock.Now().In(format.Shanghai).Format("2006-01-02"))
	look := func(state, recognised, paid, receivable string) {
		t.Helper()
		for _, lang := range []struct{ code, head string }{{"zh-CN", "期末应收账款（元）"}, {"en", "Receivable at the end (¥)"}} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(report),
				chromedp.WaitVisible(css(`[data-testid="report-total"]`))))
			require.Contains(t, webtest.Text(t, bctx, `[data-testid="report"] thead`), lang.head)
			row := `[data-testid="report-total"] `
			require.Equal(t, recognised, webtest.Text(t, bctx, row+`[data-testid="postpaid-recognised"]`), "%s (%s)", state, lang.code)
			require.Equal(t, paid, webtest.Text(t, bctx, row+`[data-testid="bills-paid"]`), "%s (%s)", state, lang.code)
			require.Equal(t, receivable, webtest.Text(t, bctx, row+`[data-testid="receivable"]`), "%s (%s)", state, lang.code)
			webtest.RequireFitsWidth(t, bctx, 390, "the revenue report, bill %s (%s)", state, lang.code)
			webtest.Screenshot(t, bctx, fmt.Sprintf("report-postpaid-%s-390-%s", state, lang.code))
		}
	}
	look("open", "¥123.45", "¥0.00", "¥123.45")
	_, err = b.app.Services.Backoffice.MarkBillPaid(ctx, bill.ID, "STMT-REPORT", backoffice.Actor{User: staff})
	require.NoError(t, err)
	look("paid", "¥123.45", "¥123.45", "¥0.00")
}
