package creditline_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/statement"
)

// archiveBundle is a database of the test's own (archiving takes a month
// out of ledger_events for every pool), the services on the application
// role with a movable clock, and the owner role's pool the archive runs as.
type archiveBundle struct {
	*testBundle
	owner, app *pgxpool.Pool
	statements *statement.Service
	first      time.Time // the first Shanghai month with a partition of its own
	dir        string    // where the archive's files go
}

func setupArchive(t *testing.T) *archiveBundle {
	t.Helper()
	ctx := context.Background()
	owner, app, _ := dbtest.OwnRoles(t)
	parts, err := ledger.Partitions(ctx, owner)
	require.NoError(t, err)
	first := parts[len(parts)-1].From // ledger_events_after's lower bound
	_, err = ledger.CreatePartitions(ctx, owner, first, 3)
	require.NoError(t, err)
	c := &clock{t: first.Add(26 * time.Hour)}
	l := ledger.New(app, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	svc := creditline.New(app, l, creditline.Options{Now: c.Now})
	return &archiveBundle{
		testBundle: &testBundle{ctx: ctx, clock: c, l: l, svc: svc, notices: &notices{}},
		owner:      owner, app: app, first: first,
		statements: &statement.Service{Pool: app, Ledger: l, CreditLines: svc},
	}
}

// month is the start of the Shanghai month n months after b.first.
func (b *archiveBundle) month(n int) time.Time {
	s := b.first.In(shanghaiZone)
	return time.Date(s.Year(), s.Month()+time.Month(n), 1, 0, 0, 0, 0, shanghaiZone).UTC()
}

var shanghaiZone = time.FixedZone("CST", 8*3600)

func (b *archiveBundle) archive(month time.Time) (ledger.ArchiveResult, error) {
	return ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{
		Month: month.In(shanghaiZone).Format("2006-01"), Dir: b.dir, ClosedThrough: b.month(12),
		CreditBilledThrough: func(ctx context.Context, lots []ledger.LotRef) (map[ledger.LotRef]time.Time, error) {
			return creditline.BilledThrough(ctx, b.owner, lots)
		}})
}

// TestArchiveAMonthOfACreditLine: an enterprise spends its credit line
// over two months; the first month cannot leave for the archive until the
// line is billed through its end (the refusal says so), then it can: its
// bill paid, both verifies are clean, the line's usage and the next
// month's statement (opening from the checkpoint) are what they were, and
// the first month's statement is refused as archived. A bill's credits
// changed by hand is still found. The month restored, everything is as
// before the archive, counted once.
func TestArchiveAMonthOfACreditLine(t *testing.T) {
	b := setupArchive(t)
	b.dir = t.TempDir()
	acc := b.enterprise(t)
	// ¥1,000 at ¥0.001: 1,000,000 credits, billed on the 1st
	var line creditline.Line
	err := pgx.BeginFunc(b.ctx, b.app, func(tx pgx.Tx) error {
		var err error
		line, err = b.svc.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 100000, BillingDay: 1, TermsDays: 10, GraceDays: 5}, "staff:1", "contract", nil)
		return err
	})
	require.NoError(t, err)
	b.charge(t, acc.ID, "300.25")
	b.clock.Set(b.month(0).Add(20 * 24 * time.Hour))
	b.charge(t, acc.ID, "199.75")
	b.verifyClean(t)

	// the line is billed through its creation only: the month stays
	_, err = b.archive(b.month(0))
	require.ErrorIs(t, err, ledger.ErrArchiveRefused)
	require.ErrorContains(t, err, "credit line of account")
	require.ErrorContains(t, err, "billed only through")

	// the billing day: one bill for the first month, paid in the second
	b.clock.Set(b.month(1).Add(2 * time.Hour))
	bill, closed, err := b.svc.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	requireDec(t, "500", bill.Credits)
	b.clock.Set(b.month(1).Add(3 * 24 * time.Hour))
	b.charge(t, acc.ID, "40")
	_, err = b.svc.Pay(b.ctx, creditline.Payment{BillID: bill.ID, Via: creditline.PaidManually, Ref: "bank", Actor: "staff:1"})
	require.NoError(t, err)
	b.clock.Set(b.month(1).Add(15 * 24 * time.Hour))
	b.charge(t, acc.ID, "2.5")
	b.clock.Set(b.month(2).Add(24 * time.Hour)) // the second month is over: its statement exists
	b.verifyClean(t)
	usage, err := b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "42.5", usage.Used())
	second := statement.MonthOf(b.month(1))
	before, err := b.statements.Compute(b.ctx, acc.ID, second)
	require.NoError(t, err)
	require.NotNil(t, before.Credit)
	requireDec(t, "500", before.Credit.UsedOpening)
	requireDec(t, "500", before.Credit.Restored)

	res, err := b.archive(b.month(0))
	require.NoError(t, err)
	require.Positive(t, res.Events)
	var live int
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_event_view WHERE pool_id = $1 AND lot_id = $2 AND at < $3`,
		acc.ID, line.LotID, b.month(1)).Scan(&live))
	require.Zero(t, live, "the first month's events of the credit lot left")
	b.verifyClean(t)
	after, err := b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, usage, after)
	st, err := b.statements.Compute(b.ctx, acc.ID, second)
	require.NoError(t, err, "the next month's opening comes from the checkpoint")
	requireStatementsEqual(t, before, st)
	_, err = b.statements.Compute(b.ctx, acc.ID, statement.MonthOf(b.month(0)))
	require.ErrorIs(t, err, ledger.ErrArchived)
	require.ErrorIs(t, err, statement.ErrArchived)

	// a bill changed by hand is still found, with the archived consumption
	_, err = b.owner.Exec(b.ctx, `UPDATE credit_bills SET credits = credits + 1 WHERE id = $1`, bill.ID)
	require.NoError(t, err)
	mismatches, err := b.svc.Verify(b.ctx)
	require.NoError(t, err)
	require.Len(t, mismatches, 2, "billed and restored: %v", mismatches)
	for _, m := range mismatches {
		requireDec(t, "501", m.Stored, m.Rule)
		requireDec(t, "500", m.Derived, m.Rule)
	}
	_, err = b.owner.Exec(b.ctx, `UPDATE credit_bills SET credits = credits - 1 WHERE id = $1`, bill.ID)
	require.NoError(t, err)
	b.verifyClean(t)

	// restored: the events are back and the checkpoint no longer counts
	_, err = ledger.Restore(b.ctx, b.owner, res.File)
	require.NoError(t, err)
	b.verifyClean(t)
	restored, err := b.svc.Usage(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, usage, restored)
	st, err = b.statements.Compute(b.ctx, acc.ID, second)
	require.NoError(t, err)
	requireStatementsEqual(t, before, st)
	_, err = b.statements.Compute(b.ctx, acc.ID, statement.MonthOf(b.month(0)))
	require.NoError(t, err, "the first month's statement is back")
}

func requireStatementsEqual(t *testing.T, want, got statement.Statement) {
	t.Helper()
	requireDec(t, want.Opening.Total.String(), got.Opening.Total, "opening")
	requireDec(t, want.Closing.Total.String(), got.Closing.Total, "closing")
	for k, v := range want.Opening.ByBucket {
		requireDec(t, v.String(), got.Opening.Of(k), "opening", k)
	}
	w, g := want.Credit, got.Credit
	require.NotNil(t, g)
	for i, p := range [][2]decimal.Decimal{{w.LineOpening, g.LineOpening}, {w.LineClosing, g.LineClosing}, {w.UsedOpening, g.UsedOpening},
		{w.UsedClosing, g.UsedClosing}, {w.OwnedOpening, g.OwnedOpening}, {w.Consumed, g.Consumed}, {w.Restored, g.Restored}} {
		requireDec(t, p[0].String(), p[1], "credit line figure", i)
	}
	require.Len(t, g.Bills, len(w.Bills))
}

// TestUsesAcrossAnArchivedBillingPeriod: a line billed on the 15th, so a
// bill's period straddles the month boundary; once the first month is
// archived (the line billed through the 15th of the next), the revenue
// report's postpaid uses of the next month are what they were: the
// archived part of the straddling bill comes in as one use at its
// period's start, so the next month's consumption takes the rest of the
// bill's amount to the fen, and the uses before the month add up to the
// same credits and fen.
func TestUsesAcrossAnArchivedBillingPeriod(t *testing.T) {
	b := setupArchive(t)
	b.dir = t.TempDir()
	acc := b.enterprise(t)
	err := pgx.BeginFunc(b.ctx, b.app, func(tx pgx.Tx) error {
		_, err := b.svc.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 100000, BillingDay: 15, TermsDays: 10, GraceDays: 5}, "staff:1", "contract", nil)
		return err
	})
	require.NoError(t, err)
	at := func(month, day int) time.Time {
		return b.month(month).Add(time.Duration(day-1)*24*time.Hour + time.Hour)
	}
	b.clock.Set(at(0, 5))
	b.charge(t, acc.ID, "100")
	b.clock.Set(at(0, 15))
	_, closed, err := b.svc.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	b.clock.Set(at(0, 20))
	b.charge(t, acc.ID, "15") // half of the second bill, 1.5 fen
	b.clock.Set(at(1, 5))
	b.charge(t, acc.ID, "15")
	b.clock.Set(at(1, 15))
	bill, closed, err := b.svc.CloseLine(b.ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, closed)
	requireDec(t, "30", bill.Credits)
	require.EqualValues(t, 3, bill.AmountFen)
	b.clock.Set(at(1, 20))
	b.charge(t, acc.ID, "7")
	b.clock.Set(at(2, 2))

	from, to := b.month(1), b.month(2)
	type totals struct {
		before        decimal.Decimal
		beforeFen     int64
		in            []creditline.Use
		inFen, billed int64
	}
	uses := func() totals {
		var x totals
		require.NoError(t, b.svc.Uses(b.ctx, from, to, acc.ID, func(u creditline.Use) {
			if u.At.Before(from) {
				x.before, x.beforeFen = x.before.Add(u.Credits), x.beforeFen+u.Fen
				return
			}
			x.in = append(x.in, u)
			x.inFen += u.Fen
			if u.BillID == bill.ID {
				x.billed += u.Fen
			}
		}))
		return x
	}
	want := uses()
	require.Len(t, want.in, 2)
	requireDec(t, "115", want.before)
	require.EqualValues(t, 3, want.beforeFen+want.billed-10, "the straddling bill's uses come to its amount: 10 fen of the first bill, 3 of the second")

	_, err = b.archive(b.month(0))
	require.NoError(t, err)
	b.verifyClean(t)
	got := uses()
	requireDec(t, want.before.String(), got.before, "the uses before the month")
	require.Equal(t, want.beforeFen, got.beforeFen)
	require.Equal(t, len(want.in), len(got.in))
	for i := range want.in {
		require.True(t, want.in[i].At.Equal(got.in[i].At))
		requireDec(t, want.in[i].Credits.String(), got.in[i].Credits)
		require.Equal(t, want.in[i].Fen, got.in[i].Fen, "use %d of the month", i)
		require.Equal(t, want.in[i].BillID, got.in[i].BillID)
	}
}

// TestStatementOfAnAccountWithNothingArchived: the first month leaves for
// the archive. An account that had events in it cannot have that month's
// statement (ErrArchived); an account created in it that had no event
// there (nor in any archived month) gets it — empty, its opening its
// closing — and the next month's as before; the statements list marks the
// month archived for the first account only (statement.Archived).
func TestStatementOfAnAccountWithNothingArchived(t *testing.T) {
	b := setupArchive(t)
	b.dir = t.TempDir()
	busy := b.enterprise(t)
	_, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: busy.ID, Kind: ledger.LotPaid, Amount: d("1000"), PaidFen: 100,
		IdempotencyKey: key(), Actor: "test"})
	require.NoError(t, err)
	b.charge(t, busy.ID, "120")
	quiet, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "quiet " + t.Name()})
	require.NoError(t, err)
	b.clock.Set(b.month(1).Add(3 * 24 * time.Hour))
	_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: quiet.ID, Kind: ledger.LotPaid, Amount: d("100"), PaidFen: 10,
		IdempotencyKey: key(), Actor: "test"})
	require.NoError(t, err)
	b.charge(t, quiet.ID, "40")
	b.charge(t, busy.ID, "30")
	b.clock.Set(b.month(2).Add(24 * time.Hour))
	first, second := statement.MonthOf(b.month(0)), statement.MonthOf(b.month(1))
	quietSecond, err := b.statements.Compute(b.ctx, quiet.ID, second)
	require.NoError(t, err)

	_, err = b.archive(b.month(0))
	require.NoError(t, err)
	b.verifyClean(t)

	_, err = b.statements.Compute(b.ctx, busy.ID, first)
	require.ErrorIs(t, err, statement.ErrArchived, "its events of the month are archived")
	st, err := b.statements.Compute(b.ctx, quiet.ID, first)
	require.NoError(t, err, "no event of the account is archived")
	requireDec(t, "0", st.Opening.Total)
	requireDec(t, "0", st.Closing.Total)
	for _, mv := range st.Movements {
		require.Zero(t, mv.Operations, "%s", mv.Category)
	}
	st, err = b.statements.Compute(b.ctx, quiet.ID, second)
	require.NoError(t, err)
	requireDec(t, quietSecond.Opening.Total.String(), st.Opening.Total)
	requireDec(t, "60", quietSecond.Closing.Total)
	requireDec(t, "60", st.Closing.Total, "the next month unchanged")
	_, err = b.statements.Compute(b.ctx, busy.ID, second)
	require.NoError(t, err, "after the account's last archived event: from the checkpoint")

	last, err := b.statements.ArchivedThrough(b.ctx, busy.ID)
	require.NoError(t, err)
	require.True(t, statement.Archived(first, last))
	require.False(t, statement.Archived(second, last))
	last, err = b.statements.ArchivedThrough(b.ctx, quiet.ID)
	require.NoError(t, err)
	require.True(t, last.IsZero())
	require.False(t, statement.Archived(first, last))
}
