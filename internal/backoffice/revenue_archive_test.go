package backoffice_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// TestRevenueReportAroundTheArchive: paid and promotional credit bought,
// granted and spent over three months; the first month leaves for the
// archive. A report from the archive's end on is what it was before (its
// paid replay starts at a closed month, its promotional opening counts the
// archived grant); a report whose first period starts inside the archived
// month, daily or monthly, is refused with ledger.ErrArchived and a field
// error on from naming the first date it may start on.
func TestRevenueReportAroundTheArchive(t *testing.T) {
	ctx := context.Background()
	b := setup(t, setupOpts{owner: true})
	parts, err := ledger.Partitions(ctx, b.owner)
	require.NoError(t, err)
	first := parts[len(parts)-1].From // ledger_events_after's lower bound: a Shanghai month start
	_, err = ledger.CreatePartitions(ctx, b.owner, first, 4)
	require.NoError(t, err)
	month := func(n int) time.Time {
		s := first.In(backoffice.Shanghai)
		return time.Date(s.Year(), s.Month()+time.Month(n), 1, 0, 0, 0, 0, backoffice.Shanghai).UTC()
	}
	set := func(at time.Time) { b.clock.Add(at.Sub(b.clock.Now())) }
	finance := b.staff(t, auth.RoleFinance)

	set(month(0).Add(26 * time.Hour))
	acc, err := b.l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "archived revenue"})
	require.NoError(t, err)
	_, err = b.l.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("10000"), PaidFen: 1000,
		IdempotencyKey: uniq("k"), Actor: "test"})
	require.NoError(t, err)
	b.credit(t, acc.ID, ledger.LotPromo, "500", nil)
	charge := func(amount string) {
		t.Helper()
		_, err := b.l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d(amount), IdempotencyKey: uniq("c")})
		require.NoError(t, err)
	}
	charge("200") // promotional credit first: 300 of it left
	set(month(1).Add(3 * 24 * time.Hour))
	charge("1000")
	set(month(2).Add(5 * 24 * time.Hour))
	charge("2500")
	set(month(3).Add(2 * 24 * time.Hour))
	n, err := b.svc.ClosePaidPositions(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n, "months 1, 2 and 3 closed")

	after := func(g backoffice.Granularity) backoffice.Report {
		t.Helper()
		r, err := b.svc.Revenue(ctx, month(1), month(3).Add(-time.Second), g, finance)
		require.NoError(t, err)
		return r
	}
	monthly, daily := after(backoffice.Monthly), after(backoffice.Daily)
	requireDec(t, "10000", monthly.Rows[0].Credits.DeferredOpening, "the paid credit was not touched in the first month")
	requireDec(t, "300", monthly.Rows[0].Credits.PromoOpening, "500 granted less 200 spent in the first month")
	requireDec(t, "700", monthly.Rows[0].Credits.Recognised, "the second month spent 300 promotional and 700 paid")

	closed, err := backoffice.PaidPositionsClosedThrough(ctx, b.pool)
	require.NoError(t, err)
	_, err = ledger.Archive(ctx, b.owner, ledger.ArchiveRequest{Month: month(0).In(backoffice.Shanghai).Format("2006-01"),
		Dir: t.TempDir(), ClosedThrough: closed})
	require.NoError(t, err)
	var left int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_event_view WHERE pool_id = $1 AND at < $2`, acc.ID, month(1)).Scan(&left))
	require.Zero(t, left, "the first month's events left")

	require.Equal(t, reportCSV(t, monthly), reportCSV(t, after(backoffice.Monthly)), "a monthly report from the archive's end is unchanged")
	require.Equal(t, reportCSV(t, daily), reportCSV(t, after(backoffice.Daily)), "a daily report from the archive's end is unchanged")

	firstDate := month(1).In(backoffice.Shanghai).Format("2006-01-02")
	for _, c := range []struct {
		name string
		from time.Time
		g    backoffice.Granularity
	}{
		{"MonthlyFromTheArchivedMonth", month(0), backoffice.Monthly},
		{"MonthlyFromInsideIt", month(0).Add(10 * 24 * time.Hour), backoffice.Monthly},
		{"DailyFromItsLastDay", month(1).Add(-time.Hour), backoffice.Daily},
		{"MonthlyWidenedToTheArchivedMonth", month(1).Add(-time.Hour), backoffice.Monthly},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.svc.Revenue(ctx, c.from, month(3).Add(-time.Second), c.g, finance)
			require.ErrorIs(t, err, ledger.ErrArchived)
			fe, ok := fielderr.As(err)
			require.True(t, ok, "a field error on from: %v", err)
			require.Equal(t, "report_archived", fe.Code("from"))
			require.Equal(t, firstDate, fe.Fields[0].Args["date"], "names the first date a report may start on")
		})
	}
}

// reportCSV is every figure of r as the CSV writes it (to the credit
// scale and the fen), which compares values, not decimal representations.
func reportCSV(t *testing.T, r backoffice.Report) string {
	t.Helper()
	var buf strings.Builder
	require.NoError(t, backoffice.ReportCSV(&buf, r))
	return buf.String()
}
