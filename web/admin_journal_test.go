package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// journalTopUp credits a paid lot of ¥123.45 to a new live account now.
func journalTopUp(t *testing.T, b *adminBundle) {
	t.Helper()
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "journal"})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.RequireFromString("123.45"),
		EventType: ledger.EventPurchase, PaidFen: 12345, IdempotencyKey: fmt.Sprintf("journal-%d", time.Now().UnixNano()), Actor: "test"})
	require.NoError(t, err)
}

// TestAdminJournalPageAndDownloads: finance and admins see each day's
// debits equal its credits and download both layouts; support may not;
// bad dates are named in the form.
func TestAdminJournalPageAndDownloads(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	journalTopUp(t, b)
	today := time.Now().In(format.Shanghai).Format("2006-01-02")
	q := "from=" + today + "&to=" + today
	for _, role := range []auth.Role{auth.RoleFinance, auth.RoleAdmin} {
		c := b.staff(t, "journal-"+string(role), role)
		p := c.Get("/admin/journal?" + q)
		require.Equal(t, http.StatusOK, p.Status)
		day := p.Doc.Find(`[data-testid="journal-day-` + today + `"]`)
		require.Equal(t, 1, day.Length())
		debit := strings.TrimSpace(day.Find(`[data-testid="day-debit"]`).Text())
		require.NotEqual(t, "¥0.00", debit, "today's top-up")
		require.Equal(t, debit, strings.TrimSpace(day.Find(`[data-testid="day-credit"]`).Text()), "the day balances")
		require.Contains(t, p.TestID("journal-account-topup_liability"), "2204.01")
		require.Equal(t, role == auth.RoleAdmin, p.Doc.Find(`[data-testid="journal-settings"]`).Length() == 1, "only admins change the codes")

		g := c.Get("/admin/journal.csv?" + q + "&layout=generic")
		require.Equal(t, http.StatusOK, g.Status)
		require.True(t, strings.HasPrefix(g.Body, "\uFEFF"+strings.Join(journal.GenericColumns, ",")))
		require.Contains(t, g.Body, today+",1,")
		k := c.Get("/admin/journal.csv?" + q + "&layout=kingdee")
		require.Equal(t, http.StatusOK, k.Status)
		require.True(t, strings.HasPrefix(k.Body, "\uFEFFFDATE,FTRANSDATE,FPERIOD,FGROUP,FNUM"))
		require.Contains(t, k.Body, "充值收款")
		require.Equal(t, http.StatusBadRequest, c.Get("/admin/journal.csv?"+q+"&layout=other").Status)
	}
	support := b.staff(t, "journal-support", auth.RoleSupport)
	require.Equal(t, http.StatusForbidden, support.Get("/admin/journal").Status)
	require.Equal(t, http.StatusForbidden, support.Get("/admin/journal.csv?"+q+"&layout=generic").Status)

	finance := b.staff(t, "journal-dates", auth.RoleFinance)
	bad := finance.Get("/admin/journal?from=soon&to=2020-01-01")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.NotEmpty(t, bad.TestID("error-from"))
	long := finance.Get("/admin/journal?from=2024-01-01&to=2025-12-31")
	require.Equal(t, http.StatusUnprocessableEntity, long.Status)
	require.NotEmpty(t, long.TestID("error-to"))
}

// TestJournalPageInChromium: on a 390 px phone, in Chinese and in English,
// finance opens the journal export: today's row balances, the account
// mapping and both downloads are there, and nothing scrolls sideways.
func TestJournalPageInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t)
	journalTopUp(t, b)
	const pw = "staff password 1"
	email := uniqEmail("journal-finance")
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw, Name: "Finance",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	today := time.Now().In(format.Shanghai).Format("2006-01-02")

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	for _, lang := range []struct{ code, title, kingdee, vat string }{
		{"zh-CN", "记账凭证导出", "金蝶", "销项税率：6%"},
		{"en", "Journal export", "Kingdee", "Output VAT rate: 6%"},
	} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/journal?from="+today+"&to="+today),
			chromedp.WaitVisible(css(`[data-testid="journal-days"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `h1`), lang.title)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="journal-kingdee"]`), lang.kingdee)
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="journal-vat"]`), lang.vat)
		require.Equal(t, webtest.Text(t, ctx, `[data-testid="total-debit"]`), webtest.Text(t, ctx, `[data-testid="total-credit"]`))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="journal-accounts"]`), "2221.01.02")
		webtest.RequireFitsWidth(t, ctx, 390, "the journal export (%s)", lang.code)
		webtest.Screenshot(t, ctx, "journal-390-"+lang.code)
	}
}
