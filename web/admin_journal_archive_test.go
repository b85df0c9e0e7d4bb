package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	stmt "github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestJournalFromAnArchivedMonth: a journal starting inside an archived
// month names the first date it may start on, as the revenue report does
// (the same rule and words), on the page's from field and in the CSV's
// answer, in both languages; so does the revenue report's CSV, by day and
// by month. From that date on both are made.
func TestJournalFromAnArchivedMonth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &testClock{}
	setClock := func(at time.Time) { clock.Advance(at.Sub(clock.Now())) }
	b := setupAdmin(t, webtest.WithOwnDatabase(), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	owner, err := pgxpool.New(ctx, db.WithUser(b.app.DatabaseURL, db.OwnerRole))
	require.NoError(t, err)
	t.Cleanup(owner.Close)
	parts, err := ledger.Partitions(ctx, owner)
	require.NoError(t, err)
	first := parts[len(parts)-1].From
	_, err = ledger.CreatePartitions(ctx, owner, first, 3)
	require.NoError(t, err)
	setClock(first.Add(26 * time.Hour))
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "journal archive"})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), PaidFen: 100,
		EventType: ledger.EventPurchase, IdempotencyKey: uuid.NewString(), Actor: "test"})
	require.NoError(t, err)
	archived := stmt.MonthOf(clock.Now())
	setClock(archived.End().Add(5 * 24 * time.Hour))
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(500), PaidFen: 50,
		EventType: ledger.EventPurchase, IdempotencyKey: uuid.NewString(), Actor: "test"})
	require.NoError(t, err)
	later := stmt.MonthOf(clock.Now())
	setClock(later.End().Add(2 * 24 * time.Hour))
	_, err = b.app.Services.Backoffice.ClosePaidPositions(ctx)
	require.NoError(t, err)
	closed, err := backoffice.PaidPositionsClosedThrough(ctx, owner)
	require.NoError(t, err)
	_, err = ledger.Archive(ctx, owner, ledger.ArchiveRequest{Month: archived.String(), Dir: t.TempDir(), ClosedThrough: closed})
	require.NoError(t, err)

	until, err := ledger.ArchivedUntil(ctx, b.app.Pool)
	require.NoError(t, err)
	date := until.In(format.Shanghai).Format("2006-01-02")
	inside := archived.Start().In(format.Shanghai).AddDate(0, 0, 3).Format("2006-01-02")
	q := "from=" + inside + "&to=" + date
	c := b.staff(t, "journal-archive", auth.RoleFinance)
	for lang, want := range map[string]string{
		"zh-CN": date + " 之前的记录已归档，报表在该期间无法准确计算：请从 " + date + " 或之后开始，或先恢复已归档的月份（credits ledger restore）。",
		"en": "The records before " + date + " are in the archive, so the report cannot be exact there: start it on " + date +
			" or later, or restore the archived months first (credits ledger restore).",
	} {
		c.Header.Set("Accept-Language", lang)
		p := c.Get("/admin/journal?" + q)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		require.Equal(t, want, p.TestID("error-from"), lang)
		require.Equal(t, inside, p.Doc.Find(`input[name="from"]`).AttrOr("value", ""), "the form keeps what was asked")
		for _, layout := range []string{"generic", "kingdee"} {
			g := c.Get("/admin/journal.csv?" + q + "&layout=" + layout)
			require.Equal(t, http.StatusGone, g.Status, lang)
			require.Equal(t, want, g.Body, lang)
		}
		for _, g := range []string{"day", "month"} {
			r := c.Get("/admin/reports.csv?" + q + "&granularity=" + g)
			require.Equal(t, http.StatusGone, r.Status, lang)
			require.Equal(t, want, r.Body, "the revenue report's CSV names the first date too (%s, %s)", lang, g)
		}
	}
	ok := c.Get("/admin/journal?from=" + date + "&to=" + date)
	require.Equal(t, http.StatusOK, ok.Status, ok.Body)
	require.Equal(t, http.StatusOK, c.Get("/admin/journal.csv?from="+date+"&to="+date+"&layout=generic").Status)
	require.Equal(t, http.StatusOK, c.Get("/admin/reports.csv?from="+date+"&to="+date+"&granularity=day").Status)
}
