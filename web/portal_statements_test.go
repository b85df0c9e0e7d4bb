package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	stmt "github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalMonthlyStatements seeds a customer's history two months back
// (the ledger's clock moved back), then, in the present, lists its closed
// months and downloads one as PDF and XLSX: both hold the totals the
// ledger's point-in-time balance gives, another customer gets 404 for it,
// and the page fits a 390 px phone in Chinese and in English.
func TestPortalMonthlyStatements(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	clock := &testClock{}
	clock.Advance(-60 * 24 * time.Hour)
	b := setupPortal(t, webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	ctx := context.Background()
	login := uniqEmail("statements")
	c, u := b.register(t, login, "对账客户")
	acc := u.AccountID
	month := stmt.MonthOf(clock.Now())
	_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), PaidFen: 100,
		IdempotencyKey: uuid.NewString(), Actor: "test"})
	require.NoError(t, err)
	b.charge(t, acc, "stmt-"+login, "deepseek-chat", "s1", "120", 1000, 100)
	clock.Advance(60 * 24 * time.Hour)

	end, err := b.ledger.BalanceAt(ctx, acc, month.End().Add(-time.Microsecond))
	require.NoError(t, err)
	require.True(t, end.IsPositive())
	closing := format.Credits(end)

	p := c.Get("/portal/statements")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row := p.Doc.Find(`[data-testid="statement-row"][data-month="` + month.String() + `"]`)
	require.Equal(t, 1, row.Length(), p.Body)
	pdfURL, _ := row.Find(`[data-testid="statement-pdf"]`).Attr("href")
	xlsxURL, _ := row.Find(`[data-testid="statement-xlsx"]`).Attr("href")
	require.Equal(t, fmt.Sprintf("/portal/statements/%d/%s/pdf", acc, month), pdfURL)

	t.Run("PDF", func(t *testing.T) {
		if _, err := exec.LookPath("pdftotext"); err != nil {
			t.Skip("pdftotext (poppler-utils) not installed")
		}
		p := c.Get(pdfURL)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "application/pdf", p.Header.Get("Content-Type"))
		require.Contains(t, p.Header.Get("Content-Disposition"), fmt.Sprintf("statement-%d-%s.pdf", acc, month))
		text := pdfToText(t, []byte(p.Body))
		for _, want := range []string{"月度对账单", "对账客户", month.String(), "期末余额", closing, "-120", "deepseek-chat", "¥1.00"} {
			require.Contains(t, text, want)
		}
	})
	t.Run("XLSX", func(t *testing.T) {
		p := c.Get(xlsxURL)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		f, err := excelize.OpenReader(bytes.NewReader([]byte(p.Body)))
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		rows, err := f.GetRows(stmt.SheetSummary, excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		var got string
		for _, r := range rows {
			if len(r) > 0 && r[0] == "期末余额 Closing balance" {
				got = r[len(r)-1]
			}
		}
		require.Equal(t, end.String(), got)
	})
	t.Run("OtherAccountIsNotFound", func(t *testing.T) {
		other, _ := b.register(t, uniqEmail("statements-other"), "别的客户")
		require.Equal(t, http.StatusNotFound, other.Get(pdfURL).Status)
		require.Equal(t, http.StatusNotFound, other.Get(xlsxURL).Status)
		require.Equal(t, http.StatusNotFound, c.Get(fmt.Sprintf("/portal/statements/%d/2026-13/pdf", acc)).Status)
		require.Equal(t, http.StatusNotFound, c.Get(fmt.Sprintf("/portal/statements/%d/%s/pdf", acc, stmt.MonthOf(clock.Now()))).Status, "the month is not over")
	})

	t.Run("Chromium390", func(t *testing.T) {
		bctx := webtest.Browser(t, 90*time.Second)
		require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
		webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
		for _, lang := range []struct{ code, title, pdf string }{{"zh-CN", "月度对账单", "PDF"}, {"en", "Monthly statements", "PDF"}} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/statements"),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="statements-table"]`))))
			require.Contains(t, webtest.Text(t, bctx, "main"), lang.title)
			require.Contains(t, webtest.Text(t, bctx, `[data-testid="statement-row"][data-month="`+month.String()+`"]`), month.String())
			require.Contains(t, webtest.Text(t, bctx, `[data-testid="statement-row"][data-month="`+month.String()+`"] [data-testid="statement-pdf"]`), lang.pdf)
			webtest.RequireFitsWidth(t, bctx, 390, "the statements page (%s)", lang.code)
			page := webtest.Text(t, bctx, "main")
			require.NotContains(t, page, "statements.", "no raw keys (%s)", lang.code)
			webtest.Screenshot(t, bctx, "portal-statements-390-"+lang.code)
		}
	})
}
