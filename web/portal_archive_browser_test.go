package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/signup"
	stmt "github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalArchivedMonth: a customer's first month is moved to the
// archive (in a database of the test's own: the archive is the whole
// platform's). The statements list marks that month archived, with no
// download, and offers the next month's; the archived month's download
// and the usage of its dates answer 410 with a page that says the month
// is archived and that support restores it (JSON for the chart's data),
// while the usage of later dates still shows; in Chromium at 390 px, in
// Chinese and in English, without raw keys.
func TestPortalArchivedMonth(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	ctx := context.Background()
	clock := &testClock{}
	setClock := func(at time.Time) { clock.Advance(at.Sub(clock.Now())) }
	// No sign-up credit: an account registered in the archived month has no
	// event there.
	b := setupPortal(t, webtest.WithOwnDatabase(), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }),
		webtest.WithConfig(func(c *config.Config) { c.Signup = signup.Settings{} }))
	owner, err := pgxpool.New(ctx, db.WithUser(b.app.DatabaseURL, db.OwnerRole))
	require.NoError(t, err)
	t.Cleanup(owner.Close)
	parts, err := ledger.Partitions(ctx, owner)
	require.NoError(t, err)
	first := parts[len(parts)-1].From // the first month past those the migration made
	_, err = ledger.CreatePartitions(ctx, owner, first, 3)
	require.NoError(t, err)
	setClock(first.Add(26 * time.Hour))

	login := uniqEmail("archived")
	c, u := b.register(t, login, "归档客户")
	acc := u.AccountID
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), PaidFen: 100,
		IdempotencyKey: uuid.NewString(), Actor: "test"})
	require.NoError(t, err)
	b.charge(t, acc, "arch-1-"+login, "deepseek-chat", "s1", "120", 1000, 100)
	archived := stmt.MonthOf(clock.Now())
	// A second customer signs up in the same month but has no event in it.
	quietLogin := uniqEmail("archived-quiet")
	quiet, qu := b.register(t, quietLogin, "未归档客户")
	setClock(archived.End().Add(5 * 24 * time.Hour))
	b.charge(t, acc, "arch-2-"+login, "deepseek-chat", "s2", "30", 300, 30)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: qu.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(500), PaidFen: 50,
		IdempotencyKey: uuid.NewString(), Actor: "test"})
	require.NoError(t, err)
	later := stmt.MonthOf(clock.Now())
	setClock(later.End().Add(2 * 24 * time.Hour))

	// the revenue report closes the months, then the first one leaves
	_, err = b.app.Services.Backoffice.ClosePaidPositions(ctx)
	require.NoError(t, err)
	closed, err := backoffice.PaidPositionsClosedThrough(ctx, owner)
	require.NoError(t, err)
	_, err = ledger.Archive(ctx, owner, ledger.ArchiveRequest{Month: archived.String(), Dir: t.TempDir(), ClosedThrough: closed})
	require.NoError(t, err)

	p := c.Get("/portal/statements")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row := func(m stmt.Month) string { return `[data-testid="statement-row"][data-month="` + m.String() + `"]` }
	require.Equal(t, 1, p.Doc.Find(row(archived)+` [data-testid="statement-archived"]`).Length(), p.Body)
	require.Zero(t, p.Doc.Find(row(archived)+` [data-testid="statement-pdf"]`).Length(), "no download of an archived month")
	require.Equal(t, 1, p.Doc.Find(row(later)+` [data-testid="statement-pdf"]`).Length())
	pdfURL := fmt.Sprintf("/portal/statements/%d/%s/pdf", acc, archived)
	require.Equal(t, http.StatusGone, c.Get(pdfURL).Status)
	require.Equal(t, http.StatusOK, c.Get(fmt.Sprintf("/portal/statements/%d/%s/pdf", acc, later)).Status, "the next month's statement opens from the checkpoint")

	// Nothing of the quiet customer is archived: the month is not marked,
	// and its statement (empty) downloads.
	qp := quiet.Get("/portal/statements")
	require.Equal(t, http.StatusOK, qp.Status, qp.Body)
	require.Equal(t, 1, qp.Doc.Find(row(archived)+` [data-testid="statement-pdf"]`).Length(), qp.Body)
	require.Zero(t, qp.Doc.Find(row(archived)+` [data-testid="statement-archived"]`).Length(), "nothing of this account is archived")
	require.Equal(t, http.StatusOK, quiet.Get(fmt.Sprintf("/portal/statements/%d/%s/xlsx", qu.AccountID, archived)).Status)

	day := func(t time.Time) string { return format.Date(t.In(format.Shanghai)) }
	archivedUsage := "/portal/usage?from=" + day(archived.Start()) + "&to=" + day(archived.End().Add(-time.Hour))
	laterUsage := "/portal/usage?from=" + day(later.Start()) + "&to=" + day(later.End().Add(-time.Hour))
	require.Equal(t, http.StatusGone, c.Get(archivedUsage).Status)
	lp := c.Get(laterUsage)
	require.Equal(t, http.StatusOK, lp.Status, lp.Body)
	require.Contains(t, lp.Body, "deepseek-chat")
	req := c.NewRequest(http.MethodGet, "/portal/usage/chart.json?from="+day(archived.Start())+"&to="+day(archived.End().Add(-time.Hour)), nil)
	req.Header.Set("Accept", "application/json")
	jp := c.Do(req)
	require.Equal(t, http.StatusGone, jp.Status)
	require.Contains(t, jp.Body, `"code":"archived"`)

	bctx := webtest.Browser(t, 90*time.Second)
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct{ code, archivedNote, title, statement, usage string }{
		{"zh-CN", "已归档", "此内容已不可用", "联系客服", "更晚的日期"},
		{"en", "Archived", "No longer available", "contact support", "Choose later dates"},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/statements"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="statements-table"]`))))
		require.Contains(t, webtest.Text(t, bctx, row(archived)), lang.archivedNote)
		webtest.RequireFitsWidth(t, bctx, 390, "the statements page with an archived month (%s)", lang.code)
		require.NotContains(t, webtest.Text(t, bctx, "main"), "statements.", "no raw keys (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-statements-archived-390-"+lang.code)

		for _, page := range []struct{ url, says, name string }{
			{pdfURL, lang.statement, "statement"}, {archivedUsage, lang.usage, "usage"},
		} {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+page.url),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`))))
			require.Equal(t, lang.title, webtest.Text(t, bctx, `[data-testid="error-title"]`))
			text := webtest.Text(t, bctx, `[data-testid="error-page"]`)
			require.Contains(t, text, page.says, "the %s page says how to get the month (%s)", page.name, lang.code)
			require.NotContains(t, text, "error.", "no raw keys (%s)", lang.code)
			webtest.RequireFitsWidth(t, bctx, 390, "the archived %s page (%s)", page.name, lang.code)
			webtest.Screenshot(t, bctx, "portal-archived-"+page.name+"-390-"+lang.code)
		}
	}
	// Finance's revenue report refuses a range starting inside the
	// archived month, on the from field, naming the first date it may
	// start on; from that date on it shows.
	const pw = "staff password 1"
	finance := uniqEmail("archived-finance")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: finance, Password: pw, Name: "Finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	firstDate := day(later.Start())
	refused := "/admin/reports?granularity=month&from=" + day(archived.Start()) + "&to=" + day(later.End().Add(-time.Hour))
	webtest.SignIn(t, bctx, b.app.URL, finance, pw)
	for _, lang := range []struct{ code, says string }{{"zh-CN", firstDate + " 之前的记录已归档"}, {"en", "The records before " + firstDate + " are in the archive"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+refused),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-form"] [aria-invalid="true"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="report-form"]`), lang.says, "the from field says why (%s)", lang.code)
		gone, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!document.querySelector('[data-testid="report-total"]')`))
		require.NoError(t, err)
		require.True(t, gone, "no figures that would miss the archived month (%s)", lang.code)
		webtest.RequireFitsWidth(t, bctx, 390, "the refused revenue report (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-report-archived-390-"+lang.code)
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/admin/reports?granularity=month&from="+firstDate+"&to="+day(later.End().Add(-time.Hour))),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-total"]`))))
		webtest.RequireFitsWidth(t, bctx, 390, "the revenue report from the archive's end (%s)", lang.code)
	}
}
